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
 * Most calls continue an open session.  They take a cheaper path first:
 * the aggregate row is found and locked by its key and, when the call is
 * inside its window (judged on the latest version, under the lock, so it
 * cannot race a session start), it and the access row are written in place
 * (rows.c).  Only a first view or a new session runs the upsert above.
 *
 * A version belongs to one artifact (versions.c): a call whose aggregate row
 * exists is checked against the artifact that row carries, any other call
 * against artifact_versions, before anything is written.
 */
#include "postgres.h"

#include "presence_tracking.h"
#include "rules.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "compat.h"
#include "executor/tuptable.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(presence_tracking_record_view);
PG_FUNCTION_INFO_V1(presence_tracking_record_view_1_4);
PG_FUNCTION_INFO_V1(presence_tracking_view_day);
PG_FUNCTION_INFO_V1(presence_tracking_day_start);
PG_FUNCTION_INFO_V1(presence_tracking_set_tracking);

/* The rolling window (rules.h): the previous view has passed the debounce. */
#define NEW_SESSION PT_WINDOW_PASSED_SQL("g.last_viewed_at", "$5")

/*
 * The parts of the statement, $1 user, $2 artifact, $3 version, $4 at, $5 at
 * - debounce.  STATS_UPSERT opens a session or continues one; the ledger
 * and the day's count (1.4) take a row only when it opened one.
 */
#define STATS_UPSERT \
"  INSERT INTO @extschema@.artifact_version_stats AS g" \
"    (user_id, version_id, artifact_id, view_count, first_viewed_at, last_viewed_at, session_hits)" \
"  VALUES ($1, $3, $2, 1, $4, $4, 1)" \
"  ON CONFLICT (user_id, version_id) DO UPDATE SET" \
"    view_count = g.view_count OPERATOR(pg_catalog.+) CASE WHEN " NEW_SESSION " THEN 1 ELSE 0 END," \
"    session_hits = CASE WHEN " NEW_SESSION " THEN 1 ELSE g.session_hits OPERATOR(pg_catalog.+) 1 END," \
"    last_viewed_at = " PT_LATEST_SQL("g.last_viewed_at", "EXCLUDED.last_viewed_at") \
"  RETURNING g.session_hits OPERATOR(pg_catalog.=) 1 AS new_session"
#define LEDGER_INSERT_INTO \
"  INSERT INTO @extschema@.artifact_views (user_id, artifact_id, version_id, viewed_at)"
#define LEDGER_ROW "$1, $2, $3, $4"
#define LEDGER_INSERT LEDGER_INSERT_INTO " SELECT " LEDGER_ROW " FROM stats WHERE stats.new_session"
#define DAY_INSERT_INTO \
"  INSERT INTO @extschema@.artifact_view_days AS d (user_id, version_id, day, artifact_id, views)"
#define DAY_ROW "$1, $3, @extschema@.view_day($4), $2, 1"
#define DAY_ON_CONFLICT \
"  ON CONFLICT (user_id, version_id, day) DO UPDATE SET views = d.views OPERATOR(pg_catalog.+) 1"
#define DAY_UPSERT DAY_INSERT_INTO " SELECT " DAY_ROW " FROM stats WHERE stats.new_session" DAY_ON_CONFLICT
#define ACCESS_UPSERT \
"  INSERT INTO @extschema@.artifact_access AS a (user_id, artifact_id, last_viewed_at)" \
"  VALUES ($1, $2, $4)" \
"  ON CONFLICT (user_id, artifact_id) DO UPDATE SET" \
"    last_viewed_at = " PT_LATEST_SQL("a.last_viewed_at", "EXCLUDED.last_viewed_at")

/* Releases up to 1.3: three tiers. */
static const char record_view_sql[] =
"WITH stats AS (" STATS_UPSERT "), ledger AS (" LEDGER_INSERT "), access AS (" ACCESS_UPSERT ")"
" SELECT new_session FROM stats";

/* 1.4: and the day's count of sessions, which artifact_engagement() folds. */
static const char record_view_days_sql[] =
"WITH stats AS (" STATS_UPSERT "), ledger AS (" LEDGER_INSERT "), days AS (" DAY_UPSERT "),"
" access AS (" ACCESS_UPSERT ")"
" SELECT new_session FROM stats";

/*
 * An artifact set to 'unread_only': what unread indicators read (the
 * aggregate row, its times, the access row) and no session: view_count
 * stays, no ledger or day row, and the call returns false.
 */
#define UNREAD_ONLY_UPSERT \
"  INSERT INTO @extschema@.artifact_version_stats AS g" \
"    (user_id, version_id, artifact_id, view_count, first_viewed_at, last_viewed_at, session_hits)" \
"  VALUES ($1, $3, $2, 0, $4, $4, 1)" \
"  ON CONFLICT (user_id, version_id) DO UPDATE SET" \
"    session_hits = CASE WHEN " NEW_SESSION " THEN 1 ELSE g.session_hits OPERATOR(pg_catalog.+) 1 END," \
"    last_viewed_at = " PT_LATEST_SQL("g.last_viewed_at", "EXCLUDED.last_viewed_at") \
"  RETURNING false AS new_session"
static const char unread_only_sql[] =
"WITH stats AS (" UNREAD_ONLY_UPSERT "), access AS (" ACCESS_UPSERT ")"
" SELECT new_session FROM stats";

/* The access tier alone, for when its row cannot be written in place. */
static const char access_sql[] = ACCESS_UPSERT;

/*
 * On a Citus cluster (citus.c), the same parts as statements of their own:
 * Citus routes each to the user's shard, where a statement of several
 * data-modifying parts would be planned across nodes and committed in two
 * phases.  In the same order, so a session is still opened by the one call
 * that the aggregate row's lock lets through.
 */
static const char stats_sql[] = STATS_UPSERT;
static const char unread_only_stats_sql[] = UNREAD_ONLY_UPSERT;
static const char ledger_row_sql[] = LEDGER_INSERT_INTO " VALUES (" LEDGER_ROW ")";
static const char day_row_sql[] = DAY_INSERT_INTO " VALUES (" DAY_ROW ")" DAY_ON_CONFLICT;

/* An artifact's tracking mode, where artifact_tracking is in Citus. */
static const char tracking_mode_sql[] =
"SELECT t.mode FROM @extschema@.artifact_tracking t WHERE t.artifact_id" EQ "$2";

/*
 * How an artifact is tracked (set_tracking, 1.4), in the order of
 * tracking_mode_names; artifact_tracking's CHECK lists the two stored ones.
 */
typedef enum TrackingMode
{
	TRACKING_FULL,
	TRACKING_UNREAD_ONLY,
	TRACKING_OFF,
	TRACKING_UNKNOWN
} TrackingMode;
static const char *const tracking_mode_names[] = {"full", "unread_only", "off"};

static TrackingMode
tracking_mode_named(const char *name)
{
	for (int m = TRACKING_FULL; m < TRACKING_UNKNOWN; m++)
		if (strcmp(name, tracking_mode_names[m]) == 0)
			return (TrackingMode) m;
	return TRACKING_UNKNOWN;
}

/* The mode a row of artifact_tracking stores (NULL: none): full unless named. */
static TrackingMode
stored_tracking_mode(const char *name)
{
	TrackingMode mode = name == NULL ? TRACKING_FULL : tracking_mode_named(name);

	return mode == TRACKING_UNKNOWN ? TRACKING_FULL : mode;
}

/* One call of record_view, checked; new_session is its result. */
typedef struct ViewCall
{
	FunctionCallInfo fcinfo;
	Oid			schema;			/* the extension's, by OID */
	Oid			key_type;
	Oid			argtypes[5];
	Datum		values[5];		/* $1 user, $2 artifact, $3 version, $4 at, $5 at - debounce */
	bool		release_1_4;	/* day rows and tracking modes */
	bool		new_session;
} ViewCall;

/* What continue_session found. */
typedef enum SessionState
{
	SESSION_CONTINUED,			/* the call was inside the open session: done */
	SESSION_NEW,				/* the aggregate row exists: the call opens a session */
	SESSION_UNKNOWN				/* no aggregate row, or the table is left to SQL */
} SessionState;

/* Moves the access row of (user, artifact) forward to the call's time. */
static void
touch_access(ViewCall *c)
{
	static PtPlan access_slot;
	PtRows		access;
	int			ret;

	if (pt_rows_open(&access, c->schema, "artifact_access"))
	{
		int			last_viewed = pt_column_index(access.rel, "last_viewed_at");
		bool		found;

		pt_rows_set(&access, pt_column_index(access.rel, "user_id"), c->values[0]);
		pt_rows_set(&access, pt_column_index(access.rel, "artifact_id"), c->values[1]);
		found = pt_rows_lock(&access);
		if (found)
		{
			TimestampTz stored = DatumGetTimestampTz(pt_rows_get(&access, last_viewed));
			/* Written only when the time moves forward (rules.h). */
			if (pt_latest(stored, DatumGetTimestampTz(c->values[3])) != stored)
			{
				pt_rows_set(&access, last_viewed, c->values[3]);
				pt_rows_update(&access);
			}
		}
		pt_rows_close(&access);
		if (found)
			return;
	}
	pt_spi_connect();
	ret = SPI_execute_plan(pt_plan(&access_slot, c->fcinfo, access_sql, 5, c->argtypes),
						   c->values, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "record_view access upsert failed: %s", SPI_result_code_string(ret));
	pt_spi_finish();
}

/*
 * A call inside the open session of (user, version): the aggregate row and
 * the access row written in place.  Anything else is left to the caller,
 * with nothing written: a new session (the row exists), a first view, or a
 * table left to SQL.  A row that holds another artifact refuses the call.
 */
static SessionState
continue_session(ViewCall *c)
{
	PtRows		stats;
	int			last_viewed;
	bool		found;
	bool		in_session;

	if (!pt_rows_open(&stats, c->schema, "artifact_version_stats"))
		return SESSION_UNKNOWN;
	last_viewed = pt_column_index(stats.rel, "last_viewed_at");
	pt_rows_set(&stats, pt_column_index(stats.rel, "user_id"), c->values[0]);
	pt_rows_set(&stats, pt_column_index(stats.rel, "version_id"), c->values[2]);
	found = pt_rows_lock(&stats);
	if (found)
		pt_check_stored_artifact(c->key_type, c->values[2],
								 pt_rows_get(&stats, pt_column_index(stats.rel, "artifact_id")),
								 c->values[1]);
	in_session = found &&
		!pt_window_passed(DatumGetTimestampTz(pt_rows_get(&stats, last_viewed)),
						  DatumGetTimestampTz(c->values[4]));
	if (in_session)
	{
		pt_rows_increment(&stats, pt_column_index(stats.rel, "session_hits"));
		pt_rows_set(&stats, last_viewed,
					TimestampTzGetDatum(pt_latest(DatumGetTimestampTz(pt_rows_get(&stats, last_viewed)),
												  DatumGetTimestampTz(c->values[3]))));
		pt_rows_update(&stats);
	}
	pt_rows_close(&stats);
	if (!in_session)
		return found ? SESSION_NEW : SESSION_UNKNOWN;
	touch_access(c);
	return SESSION_CONTINUED;
}

/* The same, with SQL, where artifact_tracking is a Citus reference table. */
static TrackingMode
tracking_mode_in_citus(ViewCall *c)
{
	static PtPlan slot;
	TrackingMode mode = TRACKING_FULL;
	int			ret;

	pt_spi_connect();
	ret = SPI_execute_plan(pt_plan(&slot, c->fcinfo, tracking_mode_sql, 5, c->argtypes),
						   c->values, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "artifact_tracking read failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 1)
		mode = stored_tracking_mode(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	pt_spi_finish();
	return mode;
}

/*
 * The artifact's tracking mode: a row of artifact_tracking, where only
 * artifacts not at 'full' have one.  Most databases have none, and then the
 * table has no page and the look-up is a size check.
 */
static TrackingMode
tracking_mode(ViewCall *c)
{
	Oid			relid = get_relname_relid("artifact_tracking", c->schema);
	Relation	rel;
	Relation	pkey;
	ScanKeyData key;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	TrackingMode mode = TRACKING_FULL;

	if (!OidIsValid(relid))
		return TRACKING_FULL;
	if (pt_citus_table(relid))
		return tracking_mode_in_citus(c);
	rel = table_open(relid, AccessShareLock);
	if (RelationGetNumberOfBlocks(rel) == 0 || !OidIsValid(RelationGetPrimaryKeyIndex(rel)))
	{
		table_close(rel, NoLock);
		return TRACKING_FULL;
	}
	pkey = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);
	pt_key_scankey(pkey, 0, &key);
	key.sk_argument = c->values[1];
	slot = table_slot_create(rel, NULL);
	scan = pt_index_beginscan(rel, pkey, GetActiveSnapshot(), 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		value = slot_getattr(slot, pt_column_index(rel, "mode") + 1, &isnull);

		mode = stored_tracking_mode(isnull ? NULL : TextDatumGetCString(value));
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(pkey, NoLock);
	table_close(rel, NoLock);
	return mode;
}

/* Runs one part of record_view on a cluster; returns its first column. */
static bool
run_part(ViewCall *c, PtPlan *slot, const char *sql, int expected)
{
	bool		isnull;
	int			ret = SPI_execute_plan(pt_plan(slot, c->fcinfo, sql, 5, c->argtypes),
									   c->values, NULL, false, 0);

	if (ret != expected)
		elog(ERROR, "record_view failed: %s", SPI_result_code_string(ret));
	return ret == SPI_OK_INSERT_RETURNING && SPI_processed == 1 &&
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* The statement of write_view in its parts, for a Citus cluster (above). */
static void
write_view_in_parts(ViewCall *c, TrackingMode mode)
{
	static PtPlan stats_slot;
	static PtPlan unread_only_slot;
	static PtPlan ledger_slot;
	static PtPlan day_slot;
	static PtPlan access_slot;

	if (mode == TRACKING_UNREAD_ONLY)
		c->new_session = run_part(c, &unread_only_slot, unread_only_stats_sql,
								  SPI_OK_INSERT_RETURNING);
	else
		c->new_session = run_part(c, &stats_slot, stats_sql, SPI_OK_INSERT_RETURNING);
	if (c->new_session)
	{
		run_part(c, &ledger_slot, ledger_row_sql, SPI_OK_INSERT);
		run_part(c, &day_slot, day_row_sql, SPI_OK_INSERT);
	}
	run_part(c, &access_slot, access_sql, SPI_OK_INSERT);
}

/* The writes of a call, with the writer's rights (definer.c). */
static void
write_view(void *arg)
{
	static PtPlan upsert_slot;
	static PtPlan days_slot;
	static PtPlan unread_only_slot;
	ViewCall   *c = arg;
	TrackingMode mode = c->release_1_4 ? tracking_mode(c) : TRACKING_FULL;
	SessionState state;
	SPIPlanPtr	plan;
	bool		isnull;
	int			ret;

	c->new_session = false;
	if (mode == TRACKING_OFF)
		return;
	state = continue_session(c);
	if (state == SESSION_CONTINUED)
		return;
	pt_spi_connect();
	if (state == SESSION_UNKNOWN)
		pt_check_versions(c->fcinfo, c->key_type, 1, &c->values[2], &c->values[1]);
	if (c->release_1_4 &&
		pt_citus_table(get_relname_relid("artifact_version_stats", c->schema)))
	{
		write_view_in_parts(c, mode);
		pt_spi_finish();
		return;
	}
	if (!c->release_1_4)
		plan = pt_plan(&upsert_slot, c->fcinfo, record_view_sql, 5, c->argtypes);
	else if (mode == TRACKING_UNREAD_ONLY)
		plan = pt_plan(&unread_only_slot, c->fcinfo, unread_only_sql, 5, c->argtypes);
	else
		plan = pt_plan(&days_slot, c->fcinfo, record_view_days_sql, 5, c->argtypes);
	ret = SPI_execute_plan(plan, c->values, NULL, false, 0);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "record_view failed: %s", SPI_result_code_string(ret));
	c->new_session = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	pt_spi_finish();
}

static Datum
record_view(FunctionCallInfo fcinfo, bool release_1_4)
{
	ViewCall	c;

	c.fcinfo = fcinfo;
	c.release_1_4 = release_1_4;
	c.schema = pt_schema(fcinfo);
	c.key_type = pt_key_type(fcinfo);
	for (int i = 0; i < 3; i++)
		c.argtypes[i] = c.key_type;
	c.argtypes[3] = c.argtypes[4] = TIMESTAMPTZOID;
	pt_writer_args(fcinfo, c.key_type, c.values);
	c.values[4] = TimestampTzGetDatum(pt_window_start(DatumGetTimestampTz(c.values[3]), pt_view_debounce));
	pt_write_as_definer(fcinfo, write_view, &c);
	PG_RETURN_BOOL(c.new_session);
}

/* Releases up to 1.3. */
Datum
presence_tracking_record_view(PG_FUNCTION_ARGS)
{
	return record_view(fcinfo, false);
}

/* 1.4: day rows for artifact_engagement() and per-artifact tracking modes. */
Datum
presence_tracking_record_view_1_4(PG_FUNCTION_ARGS)
{
	return record_view(fcinfo, true);
}

/*
 * The calendar day a view counts on: its date in the time zone
 * presence_tracking.engagement_timezone names.  The one definition of a
 * view's day; every SQL statement of the extension calls this.
 */
Datum
presence_tracking_view_day(PG_FUNCTION_ARGS)
{
	Datum		local = DirectFunctionCall2(timestamptz_zone,
											CStringGetTextDatum(pt_engagement_timezone),
											PG_GETARG_DATUM(0));

	return DirectFunctionCall1(timestamp_date, local);
}

/* The instant a day begins: its midnight in the same time zone. */
Datum
presence_tracking_day_start(PG_FUNCTION_ARGS)
{
	Datum		midnight = DirectFunctionCall1(date_timestamp, PG_GETARG_DATUM(0));

	return DirectFunctionCall2(timestamp_zone,
							   CStringGetTextDatum(pt_engagement_timezone), midnight);
}

/*
 * set_tracking(artifact_id, mode): an artifact at 'full' has no row, the
 * others one.  Returns the previous mode.  Written as the writers write
 * (definer.c): presence_tracking_writer may call it, not write the table.
 * The time is a parameter: Citus takes no function in an upsert's SET.
 */
static const char set_tracking_sql[] =
"WITH previous AS ("
"  SELECT t.mode FROM @extschema@.artifact_tracking t WHERE t.artifact_id" EQ "$1 FOR UPDATE"
"), removed AS ("
"  DELETE FROM @extschema@.artifact_tracking t WHERE t.artifact_id" EQ "$1 AND $2" EQ "'full'"
"), stored AS ("
"  INSERT INTO @extschema@.artifact_tracking AS t (artifact_id, mode, changed_at)"
"  SELECT $1, $2, $3 WHERE $2 OPERATOR(pg_catalog.<>) 'full'"
"  ON CONFLICT (artifact_id) DO UPDATE SET mode = EXCLUDED.mode, changed_at = EXCLUDED.changed_at"
"   WHERE t.mode OPERATOR(pg_catalog.<>) EXCLUDED.mode"
")"
" SELECT COALESCE((SELECT previous.mode FROM previous), 'full')";

typedef struct TrackingCall
{
	FunctionCallInfo fcinfo;
	Oid			argtypes[3];
	Datum		values[3];		/* $1 artifact, $2 mode, $3 now() (a parameter: see above) */
	Datum		previous;		/* in the caller's memory context */
} TrackingCall;

static void
write_tracking(void *arg)
{
	static PtPlan slot;
	TrackingCall *c = arg;
	bool		isnull;
	int			ret;

	pt_spi_connect();
	ret = SPI_execute_plan(pt_plan(&slot, c->fcinfo, set_tracking_sql, 3, c->argtypes),
						   c->values, NULL, false, 0);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "set_tracking failed: %s", SPI_result_code_string(ret));
	c->previous = SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull),
									false, -1);
	pt_spi_finish();
}

Datum
presence_tracking_set_tracking(PG_FUNCTION_ARGS)
{
	TrackingCall c;
	const char *mode;

	pt_check_writable(fcinfo);
	c.fcinfo = fcinfo;
	c.argtypes[0] = pt_key_type(fcinfo);
	c.argtypes[1] = TEXTOID;
	c.argtypes[2] = TIMESTAMPTZOID;
	pt_check_key(fcinfo, 0, c.argtypes[0]);
	mode = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (mode == NULL || tracking_mode_named(mode) == TRACKING_UNKNOWN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid tracking mode: %s", mode ? quote_literal_cstr(mode) : "NULL"),
				 errhint("The modes are 'full' (the default), 'unread_only' and 'off'.")));
	c.values[0] = PG_GETARG_DATUM(0);
	c.values[1] = CStringGetTextDatum(mode);
	c.values[2] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	pt_write_as_definer(fcinfo, write_tracking, &c);
	PG_RETURN_DATUM(c.previous);
}
