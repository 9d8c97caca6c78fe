/*
 * compat.h
 *      The server's internal calls whose signatures change between major
 *      versions, in one place.
 *
 * Only PostgreSQL 15 is built and tested here; the branches for 16 and
 * later follow the release notes and headers of those versions and are the
 * first thing to check when porting.
 */
#ifndef PT_COMPAT_H
#define PT_COMPAT_H

#include "postgres.h"

#include "access/genam.h"
#include "executor/executor.h"
#include "utils/acl.h"

#if PG_VERSION_NUM < 150000
#error "presence_tracking needs PostgreSQL 15 or later"
#endif

/* 18 added the instrumentation argument. */
#if PG_VERSION_NUM >= 180000
#define pt_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan(heap, index, snapshot, NULL, nkeys, norderbys)
#else
#define pt_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan(heap, index, snapshot, nkeys, norderbys)
#endif

/* 16 added the permission infos, 18 the unpruned relations. */
#if PG_VERSION_NUM >= 180000
#define pt_init_range_table(estate, rtable) \
	ExecInitRangeTable(estate, rtable, NIL, bms_make_singleton(1))
#elif PG_VERSION_NUM >= 160000
#define pt_init_range_table(estate, rtable) ExecInitRangeTable(estate, rtable, NIL)
#else
#define pt_init_range_table(estate, rtable) ExecInitRangeTable(estate, rtable)
#endif

/* 16 replaced the per-catalog owner checks with object_ownercheck. */
#if PG_VERSION_NUM >= 160000
#define pt_extension_ownercheck(extension, role) \
	object_ownercheck(ExtensionRelationId, extension, role)
#else
#define pt_extension_ownercheck(extension, role) pg_extension_ownercheck(extension, role)
#endif

#endif							/* PT_COMPAT_H */
