/*
 * views.c
 *      record_view(): the three tiers of view tracking in one statement.
 *
 * The aggregate upsert decides the rolling window under the row lock that
 * ON CONFLICT takes, so concurrent calls for one (user, version) serialise on
 * it and exactly one of them opens a session.  session_hits counts the calls
 * in the current session and is reset to 1 by the call that opens one, so
 * "session_hits = 1" after the upsert says, without ambiguity (even for two
 * calls with the same time), that this call opened the session.  The ledger
 * row is written from that result in the same statement, and the access row
 * alongside: all tiers or none, in the caller's transaction.
 *
 * Most calls continue an open session.  They take a cheaper path first: a
 * plain UPDATE of the aggregate row that only matches when the call stays
 * inside the window (rechecked on the latest row version under the row lock,
 * so it cannot race a session start).  Only when it matches nothing, a first
 * view or a new session, does the upsert above run.
 */
#include "presence_tracking.h"

#include "catalog/pg_type.h"

PG_FUNCTION_INFO_V1(presence_tracking_record_view);

/*
 * A call opens a session when the previous view is at least one debounce
 * old: at or before the start of the debounce window that ends at the call.
 */
#define NEW_SESSION "g.last_viewed_at OPERATOR(pg_catalog.<=) $5"

/* $1 user, $2 artifact, $3 version, $4 at, $5 at - debounce. */
static const char record_view_sql[] =
"WITH stats AS ("
"  INSERT INTO presence_tracking.artifact_version_stats AS g"
"    (user_id, version_id, artifact_id, view_count, first_viewed_at, last_viewed_at, session_hits)"
"  VALUES ($1, $3, $2, 1, $4, $4, 1)"
"  ON CONFLICT (user_id, version_id) DO UPDATE SET"
"    view_count = g.view_count OPERATOR(pg_catalog.+) CASE WHEN " NEW_SESSION " THEN 1 ELSE 0 END,"
"    session_hits = CASE WHEN " NEW_SESSION " THEN 1 ELSE g.session_hits OPERATOR(pg_catalog.+) 1 END,"
"    last_viewed_at = GREATEST(g.last_viewed_at, EXCLUDED.last_viewed_at)"
"  RETURNING g.session_hits OPERATOR(pg_catalog.=) 1 AS new_session"
"), ledger AS ("
"  INSERT INTO presence_tracking.artifact_views (user_id, artifact_id, version_id, viewed_at)"
"  SELECT $1, $2, $3, $4 FROM stats WHERE stats.new_session"
"), access AS ("
"  INSERT INTO presence_tracking.artifact_access AS a (user_id, artifact_id, last_viewed_at)"
"  VALUES ($1, $2, $4)"
"  ON CONFLICT (user_id, artifact_id) DO UPDATE SET"
"    last_viewed_at = GREATEST(a.last_viewed_at, EXCLUDED.last_viewed_at)"
")"
" SELECT new_session FROM stats";

/* The same-session path.  $1 user, $2 artifact, $3 version, $4 at, $5 at - debounce. */
static const char touch_sql[] =
"WITH touched AS ("
"  UPDATE presence_tracking.artifact_version_stats g SET"
"    session_hits = g.session_hits OPERATOR(pg_catalog.+) 1,"
"    last_viewed_at = GREATEST(g.last_viewed_at, $4)"
"  WHERE g.user_id OPERATOR(pg_catalog.=) $1 AND g.version_id OPERATOR(pg_catalog.=) $3"
"    AND g.last_viewed_at OPERATOR(pg_catalog.>) $5"
"  RETURNING 1"
"), access AS ("
"  INSERT INTO presence_tracking.artifact_access AS a (user_id, artifact_id, last_viewed_at)"
"  SELECT $1, $2, $4 FROM touched"
"  ON CONFLICT (user_id, artifact_id) DO UPDATE SET"
"    last_viewed_at = GREATEST(a.last_viewed_at, EXCLUDED.last_viewed_at)"
")"
" SELECT FROM touched";

Datum
presence_tracking_record_view(PG_FUNCTION_ARGS)
{
	static PtPlan touch_slot;
	static PtPlan upsert_slot;
	Oid			key_type = pt_key_type(fcinfo);
	Oid			argtypes[5] = {key_type, key_type, key_type, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[5];
	bool		new_session;
	bool		isnull;
	int			ret;

	pt_writer_args(fcinfo, key_type, values);
	values[4] = TimestampTzGetDatum(pt_window_start(DatumGetTimestampTz(values[3]), pt_view_debounce));

	pt_spi_connect();
	ret = SPI_execute_plan(pt_plan(&touch_slot, fcinfo, touch_sql, 5, argtypes),
						   values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "record_view failed: %s", SPI_result_code_string(ret));
	new_session = false;
	if (SPI_processed == 0)
	{
		ret = SPI_execute_plan(pt_plan(&upsert_slot, fcinfo, record_view_sql, 5, argtypes),
							   values, NULL, false, 0);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "record_view failed: %s", SPI_result_code_string(ret));
		new_session = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	pt_spi_finish();

	PG_RETURN_BOOL(new_session);
}
