/*
 * presence.c
 *      Live presence, the read side: active_viewers() and purge().
 *
 * The presence table is keyed (artifact_id, user_id, version_id) and has no
 * index on last_seen_at, so a heartbeat's update is HOT (heartbeat.c).  A
 * face pile reads one artifact's rows from the primary key, so its cost
 * follows the users on that artifact (bounded by the retention), not the
 * table.
 */
#include "postgres.h"

#include "presence_tracking.h"
#include "rules.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(presence_tracking_active_viewers);
PG_FUNCTION_INFO_V1(presence_tracking_purge);

#define EQ " OPERATOR(pg_catalog.=) "

/*
 * $1 artifact, $2 version or NULL, $3 ttl.  One row per user: the most
 * recent version they beat on; newest first.
 */
static const char active_viewers_sql[] =
"SELECT s.user_id, s.version_id, s.last_seen_at FROM ("
"  SELECT DISTINCT ON (p.user_id) p.user_id, p.version_id, p.last_seen_at"
"    FROM @extschema@.presence p"
"   WHERE p.artifact_id" EQ "$1"
"     AND ($2 IS NULL OR p.version_id" EQ "$2)"
"     AND NOT " PT_WINDOW_PASSED_SQL("p.last_seen_at", "(pg_catalog.now() OPERATOR(pg_catalog.-) $3)")
"   ORDER BY p.user_id, p.last_seen_at DESC, p.version_id) s"
" ORDER BY s.last_seen_at DESC, s.user_id";

/* $1 retention. */
static const char purge_sql[] =
"DELETE FROM @extschema@.presence"
" WHERE last_seen_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) $1)";

Datum
presence_tracking_active_viewers(PG_FUNCTION_ARGS)
{
	static PtPlan slot;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			key_type = pt_key_type(fcinfo);
	Oid			argtypes[3] = {key_type, key_type, INTERVALOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	int			ret;

	/* The read side's NULL rule: a NULL artifact has no viewers. */
	if (PG_ARGISNULL(0))
	{
		InitMaterializedSRF(fcinfo, 0);
		return (Datum) 0;
	}
	pt_check_key(fcinfo, 0, key_type);
	if (!PG_ARGISNULL(1))
		pt_check_key(fcinfo, 1, key_type);
	pt_check_settings();
	InitMaterializedSRF(fcinfo, 0);

	values[0] = PG_GETARG_DATUM(0);
	if (PG_ARGISNULL(1))
	{
		values[1] = (Datum) 0;
		nulls[1] = 'n';
	}
	else
		values[1] = PG_GETARG_DATUM(1);
	values[2] = IntervalPGetDatum(pt_seconds_interval(pt_ttl));

	pt_spi_connect();
	ret = SPI_execute_plan(pt_plan(&slot, fcinfo, active_viewers_sql, 3, argtypes),
						   values, nulls, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "active_viewers query failed: %s", SPI_result_code_string(ret));
	for (uint64 i = 0; i < SPI_processed; i++)
		tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[i]);
	pt_spi_finish();

	return (Datum) 0;
}

Datum
presence_tracking_purge(PG_FUNCTION_ARGS)
{
	static PtPlan slot;
	Oid			argtypes[1] = {INTERVALOID};
	Datum		values[1];
	int			ret;
	uint64		deleted;

	pt_check_settings();
	values[0] = IntervalPGetDatum(pt_seconds_interval(pt_retention));

	pt_spi_connect();
	ret = SPI_execute_plan(pt_plan(&slot, fcinfo, purge_sql, 1, argtypes),
						   values, NULL, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "presence purge failed: %s", SPI_result_code_string(ret));
	deleted = SPI_processed;
	pt_spi_finish();

	PG_RETURN_INT64((int64) deleted);
}
