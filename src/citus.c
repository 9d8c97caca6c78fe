/*
 * citus.c
 *      What the writers need to know of a Citus cluster (issue 14).
 *
 * On a cluster, a table of the extension that Citus distributes (or
 * replicates as a reference table) keeps its rows in shards: the table
 * itself, on every node, is an empty shell.  Whatever reads or writes such
 * a table must do it with SQL, which Citus routes to the shard; the direct
 * reads and in-place writes of the single-node path would see the shell.
 * The answer comes from Citus's catalog, pg_dist_partition, read directly
 * (it exists only where Citus is installed) and remembered per relation
 * until the relation's cache entry is invalidated, as Citus invalidates it
 * when it distributes a table.
 *
 * The timeout sweep and the scheduled jobs run once for the cluster, on
 * the coordinator: a worker node leaves them alone (pt_citus_worker_node).
 */
#include "postgres.h"

#include "presence_tracking.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"

#define KNOWN_RELATIONS 16

typedef struct KnownRelation
{
	Oid			relid;
	bool		citus;
} KnownRelation;

static KnownRelation known[KNOWN_RELATIONS];
static int	nknown = 0;
static bool callback_registered = false;

/* A relation's cache entry was invalidated (all of them: InvalidOid). */
static void
forget_relations(Datum arg, Oid relid)
{
	for (int i = 0; i < nknown;)
	{
		if (!OidIsValid(relid) || known[i].relid == relid)
			known[i] = known[--nknown];
		else
			i++;
	}
}

/* Whether pg_dist_partition lists relid; false where Citus is absent. */
static bool
listed_by_citus(Oid relid)
{
	Oid			catalog = get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE);
	Oid			index = get_relname_relid("pg_dist_partition_logical_relid_index",
										  PG_CATALOG_NAMESPACE);
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	bool		found;

	if (!OidIsValid(catalog))
		return false;
	rel = table_open(catalog, AccessShareLock);
	/* logicalrelid, the first column (and the index's), is a regclass: an OID. */
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, index, OidIsValid(index), NULL, 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

bool
pt_citus_table(Oid relid)
{
	bool		citus;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(forget_relations, (Datum) 0);
		callback_registered = true;
	}
	for (int i = 0; i < nknown; i++)
		if (known[i].relid == relid)
			return known[i].citus;
	citus = listed_by_citus(relid);
	if (nknown == KNOWN_RELATIONS)
		nknown = 0;
	known[nknown].relid = relid;
	known[nknown++].citus = citus;
	return citus;
}

/*
 * Whether this database is a Citus worker node: Citus is installed and the
 * node's group (pg_dist_local_group) is not the coordinator's, 0.
 */
bool
pt_citus_worker_node(void)
{
	Oid			catalog = get_relname_relid("pg_dist_local_group", PG_CATALOG_NAMESPACE);
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		worker = false;

	if (!OidIsValid(catalog))
		return false;
	rel = table_open(catalog, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		group = heap_getattr(tuple, 1, RelationGetDescr(rel), &isnull);

		worker = !isnull && DatumGetInt32(group) != 0;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return worker;
}

PG_FUNCTION_INFO_V1(presence_tracking_distributed);
PG_FUNCTION_INFO_V1(presence_tracking_on_citus_worker);

/* distributed(): whether distribute() has put the tables in Citus's shards. */
Datum
presence_tracking_distributed(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(pt_citus_table(get_relname_relid("artifact_version_stats", pt_schema(fcinfo))));
}

/* on_citus_worker(): the same test as the writers', for the SQL scripts. */
Datum
presence_tracking_on_citus_worker(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(pt_citus_worker_node());
}
