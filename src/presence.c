/*
 * presence.c
 *      Live presence, the read side: active_viewers(), active_count(),
 *      user_presence(), recent_viewers(), and purge().
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

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/lsyscache.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(presence_tracking_active_viewers);
PG_FUNCTION_INFO_V1(presence_tracking_purge);
PG_FUNCTION_INFO_V1(presence_tracking_face_pile);
PG_FUNCTION_INFO_V1(presence_tracking_active_count);
PG_FUNCTION_INFO_V1(presence_tracking_user_presence);
PG_FUNCTION_INFO_V1(presence_tracking_recent_viewers);

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

/*
 * Release 1.3: sessions.  $1 artifact, $2 version or NULL, $3 now - ttl.
 * One row per present user, newest first (rules.h says what is shown).
 */
static const char face_pile_sql[] =
"SELECT s.user_id, s.version_id, s.last_seen_at, " PT_STATE_BY_RANK_SQL("s.rank") ","
"       s.sessions, s.data FROM ("
"  SELECT DISTINCT ON (p.user_id) p.user_id, p.version_id, p.data,"
"         pg_catalog.max(p.last_seen_at) OVER w AS last_seen_at,"
"         pg_catalog.max(" PT_STATE_RANK_SQL("p.state") ") OVER w AS rank,"
"         pg_catalog.count(*) OVER w AS sessions"
"    FROM @extschema@.presence p"
"   WHERE p.artifact_id" EQ "$1"
"     AND ($2 IS NULL OR p.version_id" EQ "$2)"
"     AND " PT_SESSION_LIVE_SQL("p", "$3")
"  WINDOW w AS (PARTITION BY p.user_id)"
"   ORDER BY p.user_id, " PT_MOST_RECENT_FIRST_SQL("p") ") s"
" ORDER BY s.last_seen_at DESC, s.user_id";

/* $1 artifact, $2 now - ttl. */
static const char active_count_sql[] =
"SELECT pg_catalog.count(DISTINCT p.user_id) FROM @extschema@.presence p"
" WHERE p.artifact_id" EQ "$1 AND " PT_SESSION_LIVE_SQL("p", "$2");

/* $1 user, $2 now - ttl.  One row per artifact, newest first. */
static const char user_presence_sql[] =
"SELECT s.artifact_id, s.version_id, " PT_STATE_BY_RANK_SQL("s.rank") ", s.last_seen_at FROM ("
"  SELECT DISTINCT ON (p.artifact_id) p.artifact_id, p.version_id,"
"         pg_catalog.max(p.last_seen_at) OVER w AS last_seen_at,"
"         pg_catalog.max(" PT_STATE_RANK_SQL("p.state") ") OVER w AS rank"
"    FROM @extschema@.presence p"
"   WHERE p.user_id" EQ "$1 AND " PT_SESSION_LIVE_SQL("p", "$2")
"  WINDOW w AS (PARTITION BY p.artifact_id)"
"   ORDER BY p.artifact_id, " PT_MOST_RECENT_FIRST_SQL("p") ") s"
" ORDER BY s.last_seen_at DESC, s.artifact_id";

/*
 * $1 artifact, $2 now - ttl, $3 earliest last beat.  Users with no live
 * session, by their latest beat: how their most recent session went (an
 * open session past its TTL has timed out, announced or not).
 */
static const char recent_viewers_sql[] =
"SELECT s.user_id, s.version_id, s.last_seen_at, s.how FROM ("
"  SELECT DISTINCT ON (p.user_id) p.user_id, p.version_id, p.last_seen_at,"
"         COALESCE(p.end_reason, 'timed_out') AS how,"
"         pg_catalog.bool_or(" PT_SESSION_LIVE_SQL("p", "$2") ") OVER w AS present"
"    FROM @extschema@.presence p"
"   WHERE p.artifact_id" EQ "$1"
"  WINDOW w AS (PARTITION BY p.user_id)"
"   ORDER BY p.user_id, p.last_seen_at DESC, p.session_id, p.version_id) s"
" WHERE NOT s.present AND s.last_seen_at OPERATOR(pg_catalog.>=) $3"
" ORDER BY s.last_seen_at DESC, s.user_id";

/* $1 retention. */
static const char purge_sql[] =
"DELETE FROM @extschema@.presence"
" WHERE last_seen_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) $1)";

/* Runs a read query and returns its rows as the function's result set. */
static void
return_rows(FunctionCallInfo fcinfo, PtPlan *slot, const char *sql, int nargs, Oid *argtypes,
			Datum *values, char *nulls)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			ret;

	InitMaterializedSRF(fcinfo, 0);
	pt_spi_connect();
	ret = SPI_execute_plan(pt_plan(slot, fcinfo, sql, nargs, argtypes), values, nulls, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "presence query failed: %s", SPI_result_code_string(ret));
	for (uint64 i = 0; i < SPI_processed; i++)
		tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[i]);
	pt_spi_finish();
}

/* now() - ttl: where a live session's last beat must lie after. */
static Datum
live_window_start(void)
{
	pt_check_settings();
	return TimestampTzGetDatum(pt_window_start(GetCurrentTransactionStartTimestamp(), pt_ttl));
}

/*
 * The read side's NULL rule: a NULL key has no rows.  Otherwise the key is
 * checked like a writer's.
 */
static bool
key_given(FunctionCallInfo fcinfo, int argno, Oid key_type)
{
	if (PG_ARGISNULL(argno))
		return false;
	pt_check_key(fcinfo, argno, key_type);
	return true;
}

Datum
presence_tracking_face_pile(PG_FUNCTION_ARGS)
{
	static PtPlan slot;
	Oid			key_type = pt_key_type(fcinfo);
	Oid			argtypes[3] = {key_type, key_type, TIMESTAMPTZOID};
	Datum		values[3] = {PG_GETARG_DATUM(0), (Datum) 0, live_window_start()};
	char		nulls[3] = {' ', 'n', ' '};

	if (!key_given(fcinfo, 0, key_type))
	{
		InitMaterializedSRF(fcinfo, 0);
		return (Datum) 0;
	}
	if (key_given(fcinfo, 1, key_type))
	{
		values[1] = PG_GETARG_DATUM(1);
		nulls[1] = ' ';
	}
	return_rows(fcinfo, &slot, face_pile_sql, 3, argtypes, values, nulls);
	return (Datum) 0;
}

Datum
presence_tracking_active_count(PG_FUNCTION_ARGS)
{
	static PtPlan slot;
	Oid			key_type = pt_key_type(fcinfo);
	Oid			argtypes[2] = {key_type, TIMESTAMPTZOID};
	Datum		values[2];
	bool		isnull;
	int64		count;
	int			ret;

	if (!key_given(fcinfo, 0, key_type))
		PG_RETURN_NULL();
	values[0] = PG_GETARG_DATUM(0);
	values[1] = live_window_start();
	pt_spi_connect();
	ret = SPI_execute_plan(pt_plan(&slot, fcinfo, active_count_sql, 2, argtypes), values, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "active_count query failed: %s", SPI_result_code_string(ret));
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	pt_spi_finish();
	PG_RETURN_INT64(count);
}

Datum
presence_tracking_user_presence(PG_FUNCTION_ARGS)
{
	static PtPlan slot;
	Oid			key_type = pt_key_type(fcinfo);
	Oid			argtypes[2] = {key_type, TIMESTAMPTZOID};
	Datum		values[2];

	if (!key_given(fcinfo, 0, key_type))
	{
		InitMaterializedSRF(fcinfo, 0);
		return (Datum) 0;
	}
	values[0] = PG_GETARG_DATUM(0);
	values[1] = live_window_start();
	return_rows(fcinfo, &slot, user_presence_sql, 2, argtypes, values, NULL);
	return (Datum) 0;
}

Datum
presence_tracking_recent_viewers(PG_FUNCTION_ARGS)
{
	static PtPlan slot;
	Oid			key_type = pt_key_type(fcinfo);
	Oid			argtypes[3] = {key_type, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[3];
	Interval   *within;

	if (!key_given(fcinfo, 0, key_type))
	{
		InitMaterializedSRF(fcinfo, 0);
		return (Datum) 0;
	}
	values[0] = PG_GETARG_DATUM(0);
	values[1] = live_window_start();
	within = PG_ARGISNULL(1) ? pt_seconds_interval(pt_retention) : PG_GETARG_INTERVAL_P(1);
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(within),
										  IntervalPGetDatum(pt_seconds_interval(0)))) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("within must not be negative"),
				 errhint("Pass how far back to look, such as interval '10 minutes'; NULL means presence_tracking.retention.")));
	values[2] = DirectFunctionCall2(timestamptz_mi_interval,
									TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
									IntervalPGetDatum(within));
	return_rows(fcinfo, &slot, recent_viewers_sql, 3, argtypes, values, NULL);
	return (Datum) 0;
}

/* Release 1.2 and earlier: one row per (artifact, user, version). */
Datum
presence_tracking_active_viewers(PG_FUNCTION_ARGS)
{
	static PtPlan slot;
	Oid			key_type = pt_key_type(fcinfo);
	Oid			argtypes[3] = {key_type, key_type, INTERVALOID};
	Datum		values[3] = {PG_GETARG_DATUM(0), (Datum) 0, (Datum) 0};
	char		nulls[3] = {' ', 'n', ' '};

	if (!key_given(fcinfo, 0, key_type))
	{
		InitMaterializedSRF(fcinfo, 0);
		return (Datum) 0;
	}
	if (key_given(fcinfo, 1, key_type))
	{
		values[1] = PG_GETARG_DATUM(1);
		nulls[1] = ' ';
	}
	pt_check_settings();
	values[2] = IntervalPGetDatum(pt_seconds_interval(pt_ttl));
	return_rows(fcinfo, &slot, active_viewers_sql, 3, argtypes, values, nulls);
	return (Datum) 0;
}

Datum
presence_tracking_purge(PG_FUNCTION_ARGS)
{
	static PtPlan slot;
	Oid			argtypes[1] = {INTERVALOID};
	Datum		values[1];
	int			ret;
	uint64		deleted = 0;

	pt_check_settings();
	values[0] = IntervalPGetDatum(pt_seconds_interval(pt_retention));

	pt_spi_connect();
	/*
	 * Open sessions about to be deleted go first, under their pairs' locks,
	 * so that their users' leaves are announced.  With the background
	 * worker (or frequent expire_sessions calls) there are none: it ends
	 * sessions a second after their TTL, long before the retention.
	 */
	if (get_attnum(get_relname_relid("presence", pt_schema(fcinfo)), "ended_at") != InvalidAttrNumber)
		deleted = pt_expire_sessions(pt_schema(fcinfo), fcinfo->flinfo->fn_oid, pt_retention, true);
	ret = SPI_execute_plan(pt_plan(&slot, fcinfo, purge_sql, 1, argtypes),
						   values, NULL, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "presence purge failed: %s", SPI_result_code_string(ret));
	deleted += SPI_processed;

	/*
	 * 1.4: the same job keeps view tracking: it folds the day rows into
	 * artifact_engagement and manages the ledger's partitions.
	 */
	if (OidIsValid(LookupFuncName(list_make2(makeString(get_namespace_name(pt_schema(fcinfo))),
											 makeString("maintain_views")),
								  0, NULL, true)))
	{
		static PtPlan maintain_slot;

		ret = SPI_execute_plan(pt_plan(&maintain_slot, fcinfo, "SELECT @extschema@.maintain_views()", 0, NULL),
							   NULL, NULL, false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "view tracking maintenance failed: %s", SPI_result_code_string(ret));
	}
	pt_spi_finish();

	PG_RETURN_INT64((int64) deleted);
}
