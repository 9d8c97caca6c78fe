/*
 * versions.c
 *      A version belongs to one artifact: the artifact_versions table.
 *
 * Every version the extension has seen is stored once, with its artifact,
 * by the first heartbeat or view that names it.  A later call that names
 * the version under another artifact is refused before it writes anything:
 * otherwise the aggregate, the access row and the per-artifact statistics
 * would each tell a different story.  Only new rows need the check: an
 * existing presence row's key holds the artifact, and an existing aggregate
 * row carries it (the callers compare those themselves).
 *
 * A version already stored is read from the primary key.  Others are
 * inserted first, so that two calls racing to introduce one version under
 * two artifacts serialise on its primary key; the check reads in the next
 * command, which in READ COMMITTED sees the winner.  A database not yet
 * updated to 1.2 has no such table and no such check.
 */
#include "postgres.h"

#include "presence_tracking.h"
#include "rules.h"
#include "compat.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "utils/array.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

/* $1 versions, $2 artifacts (arrays; element i is one pair). */
static const char insert_sql[] =
"INSERT INTO @extschema@.artifact_versions AS m (version_id, artifact_id)"
" SELECT b.v, b.a FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS b(v, a)"
"  ORDER BY b.v"
" ON CONFLICT (version_id) DO NOTHING";

static const char conflict_sql[] =
"SELECT b.v, m.artifact_id, b.a"
"  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS b(v, a)"
"  JOIN @extschema@.artifact_versions m ON m.version_id" EQ "b.v"
" WHERE m.artifact_id OPERATOR(pg_catalog.<>) b.a"
" LIMIT 1";

/*
 * The stored artifact of each pair's version, NULL when not stored, in the
 * pairs' order: $1 versions, $2 artifacts.
 */
static const char stored_sql[] =
"SELECT m.artifact_id"
"  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) WITH ORDINALITY AS b(v, a, i)"
"  LEFT JOIN @extschema@.artifact_versions m ON m.version_id" EQ "b.v"
" ORDER BY b.i";

static void pt_version_mismatch(Oid key_type, Datum version, Datum stored_artifact,
								Datum artifact) pg_attribute_noreturn();

/*
 * Of the n pairs, those whose version is not stored yet, moved to the front;
 * returns how many.  A version stored under another artifact refuses the
 * call.  Read from the primary key with a fresh snapshot: the usual first
 * view, of a version someone has seen before, needs no statement.
 */
static int
unknown_versions(Oid table, Oid key_type, int n, Datum *versions, Datum *artifacts)
{
	Relation	rel = table_open(table, AccessShareLock);
	Relation	pkey = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);
	int			artifact_column = pt_column_index(rel, "artifact_id");
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	IndexScanDesc scan = pt_index_beginscan(rel, pkey, snapshot, 1, 0);
	ScanKeyData key;
	int			unknown = 0;

	pt_key_scankey(pkey, 0, &key);
	for (int i = 0; i < n; i++)
	{
		key.sk_argument = versions[i];
		index_rescan(scan, &key, 1, NULL, 0);
		if (index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			Datum		stored;
			bool		isnull;

			stored = slot_getattr(slot, artifact_column + 1, &isnull);
			pt_check_stored_artifact(key_type, versions[i], stored, artifacts[i]);
			continue;
		}
		versions[unknown] = versions[i];
		artifacts[unknown++] = artifacts[i];
	}
	index_endscan(scan);
	UnregisterSnapshot(snapshot);
	ExecDropSingleTupleTableSlot(slot);
	index_close(pkey, AccessShareLock);
	table_close(rel, AccessShareLock);
	return unknown;
}

/* The same, with SQL, where artifact_versions is a Citus reference table. */
static int
unknown_versions_in_citus(FunctionCallInfo fcinfo, Oid key_type, int n, Datum *versions,
						  Datum *artifacts)
{
	static PtPlan stored_slot;
	Oid			array_type = get_array_type(key_type);
	Oid			argtypes[2] = {array_type, array_type};
	Datum		values[2];
	int			unknown = 0;
	int			ret;

	values[0] = pt_key_array(key_type, n, versions);
	values[1] = pt_key_array(key_type, n, artifacts);
	ret = SPI_execute_plan(pt_plan(&stored_slot, fcinfo, stored_sql, 2, argtypes),
						   values, NULL, false, 0);
	if (ret != SPI_OK_SELECT || SPI_processed != (uint64) n)
		elog(ERROR, "artifact_versions read failed: %s", SPI_result_code_string(ret));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		stored = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
		{
			pt_check_stored_artifact(key_type, versions[i], stored, artifacts[i]);
			continue;
		}
		versions[unknown] = versions[i];
		artifacts[unknown++] = artifacts[i];
	}
	return unknown;
}

/*
 * Records the n pairs (versions[i], artifacts[i]) not seen before, then
 * refuses the call when one names a version stored under another artifact.
 * Needs SPI connected; may reorder the arrays.
 */
void
pt_check_versions(FunctionCallInfo fcinfo, Oid key_type, int n, Datum *versions, Datum *artifacts)
{
	static PtPlan insert_slot;
	static PtPlan conflict_slot;
	Oid			table = get_relname_relid("artifact_versions", pt_schema(fcinfo));
	Oid			array_type = get_array_type(key_type);
	Oid			argtypes[2] = {array_type, array_type};
	Datum		values[2];
	int			ret;

	if (n == 0 || !OidIsValid(table))
		return;
	if (pt_citus_table(table))
		n = unknown_versions_in_citus(fcinfo, key_type, n, versions, artifacts);
	else
		n = unknown_versions(table, key_type, n, versions, artifacts);
	if (n == 0)
		return;
	values[0] = pt_key_array(key_type, n, versions);
	values[1] = pt_key_array(key_type, n, artifacts);

	ret = SPI_execute_plan(pt_plan(&insert_slot, fcinfo, insert_sql, 2, argtypes),
						   values, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "artifact_versions insert failed: %s", SPI_result_code_string(ret));
	ret = SPI_execute_plan(pt_plan(&conflict_slot, fcinfo, conflict_sql, 2, argtypes),
						   values, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "artifact_versions check failed: %s", SPI_result_code_string(ret));
	if (SPI_processed > 0)
	{
		HeapTuple	row = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		pt_version_mismatch(key_type, SPI_getbinval(row, desc, 1, &isnull),
							SPI_getbinval(row, desc, 2, &isnull),
							SPI_getbinval(row, desc, 3, &isnull));
	}
}

/*
 * Refuses a call that names version under artifact when it belongs to
 * stored_artifact (read from artifact_versions, or from an aggregate row).
 */
void
pt_check_stored_artifact(Oid key_type, Datum version, Datum stored_artifact, Datum artifact)
{
	TypeCacheEntry *type = lookup_type_cache(key_type, 0);

	if (!datum_image_eq(stored_artifact, artifact, type->typbyval, type->typlen))
		pt_version_mismatch(key_type, version, stored_artifact, artifact);
}

static void
pt_version_mismatch(Oid key_type, Datum version, Datum stored_artifact, Datum artifact)
{
	Oid			output;
	bool		varlena;

	getTypeOutputInfo(key_type, &output, &varlena);
	ereport(ERROR,
			(errcode(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION),
			 errmsg("version %s belongs to artifact %s, not to artifact %s",
					OidOutputFunctionCall(output, version),
					OidOutputFunctionCall(output, stored_artifact),
					OidOutputFunctionCall(output, artifact)),
			 errdetail("A version belongs to the artifact it was first recorded under (table presence_tracking.artifact_versions)."),
			 errhint("Pass the artifact the version belongs to; version ids must be unique across artifacts.")));
}
