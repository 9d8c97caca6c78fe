/*
 * presence.c
 *      Live presence: heartbeat(), active_viewers(), purge().
 *
 * The presence table is keyed (artifact_id, user_id, version_id) and has no
 * index on last_seen_at, so a heartbeat's update is HOT.  A face pile reads
 * one artifact's rows from the primary key, so its cost follows the users on
 * that artifact (bounded by the retention), not the table.
 */
#include "presence_tracking.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/sortsupport.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"

PG_FUNCTION_INFO_V1(presence_tracking_heartbeat);
PG_FUNCTION_INFO_V1(presence_tracking_active_viewers);
PG_FUNCTION_INFO_V1(presence_tracking_purge);
PG_FUNCTION_INFO_V1(presence_tracking_heartbeat_many);

#define EQ " OPERATOR(pg_catalog.=) "

/*
 * One upsert.  A beat starts a new streak (beats = 1, joined_at = at) when the
 * row is new or its last beat is at least one TTL old, that is at or before
 * the start of the TTL window that ends at the beat; the later of the two
 * times wins, so an older beat never moves last_seen_at back.  Returns
 * whether the beat started a streak.
 *
 * $1 user, $2 artifact, $3 version, $4 at, $5 at - ttl (both statements).
 */
#define STREAK_STARTS "p.last_seen_at OPERATOR(pg_catalog.<=) $5"
#define HEARTBEAT_UPSERT \
" ON CONFLICT (artifact_id, user_id, version_id) DO UPDATE SET" \
"  joined_at = CASE WHEN " STREAK_STARTS " THEN EXCLUDED.last_seen_at ELSE p.joined_at END," \
"  beats = CASE WHEN " STREAK_STARTS " THEN 1 ELSE p.beats OPERATOR(pg_catalog.+) 1 END," \
"  last_seen_at = GREATEST(p.last_seen_at, EXCLUDED.last_seen_at)"

static const char heartbeat_sql[] =
"INSERT INTO presence_tracking.presence AS p"
"  (artifact_id, user_id, version_id, last_seen_at, joined_at, beats)"
" VALUES ($2, $1, $3, $4, $4, 1)"
HEARTBEAT_UPSERT
" RETURNING p.beats" EQ "1";

/*
 * A beat that started a streak is a join unless another version of the
 * artifact had the user present.  A statement of its own, run only for
 * streak starts: inside the upsert's RETURNING its index scan was set up on
 * every beat.
 */
static const char other_version_live_sql[] =
"SELECT EXISTS ("
"  SELECT FROM presence_tracking.presence o"
"   WHERE o.artifact_id" EQ "$2 AND o.user_id" EQ "$1"
"     AND o.version_id OPERATOR(pg_catalog.<>) $3"
"     AND o.last_seen_at OPERATOR(pg_catalog.>) $5)";

/*
 * The set-based heartbeat: the same upsert for arrays of keys, one statement.
 * The caller has sorted the batch in primary key order and dropped repeated
 * beats (sort_batch); the scan keeps that order, so the upsert touches each
 * row once and concurrent batches lock rows in the same order.  Returns the
 * joins: beats that started a streak where no other version of the artifact
 * had the user present before the batch, one per (user, artifact).
 *
 * $1 users, $2 artifacts, $3 versions (arrays), $4 at, $5 at - ttl.
 */
static const char heartbeat_many_sql[] =
"WITH upserted AS ("
"  INSERT INTO presence_tracking.presence AS p"
"    (artifact_id, user_id, version_id, last_seen_at, joined_at, beats)"
"  SELECT b.a, b.u, b.v, $4, $4, 1"
"    FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3)) AS b(u, a, v)"
HEARTBEAT_UPSERT
"  RETURNING p.user_id, p.artifact_id, p.version_id, p.beats"
")"
" SELECT DISTINCT ON (s.user_id, s.artifact_id) s.user_id, s.artifact_id, s.version_id"
"   FROM upserted s"
"  WHERE s.beats" EQ "1 AND NOT EXISTS ("
"    SELECT FROM presence_tracking.presence o"
"     WHERE o.artifact_id" EQ "s.artifact_id AND o.user_id" EQ "s.user_id"
"       AND o.version_id OPERATOR(pg_catalog.<>) s.version_id"
"       AND o.last_seen_at OPERATOR(pg_catalog.>) $5)"
"  ORDER BY s.user_id, s.artifact_id, s.version_id";

/*
 * $1 artifact, $2 version or NULL, $3 ttl.  One row per user: the most
 * recent version they beat on; newest first.
 */
static const char active_viewers_sql[] =
"SELECT s.user_id, s.version_id, s.last_seen_at FROM ("
"  SELECT DISTINCT ON (p.user_id) p.user_id, p.version_id, p.last_seen_at"
"    FROM presence_tracking.presence p"
"   WHERE p.artifact_id" EQ "$1"
"     AND ($2 IS NULL OR p.version_id" EQ "$2)"
"     AND p.last_seen_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) $3)"
"   ORDER BY p.user_id, p.last_seen_at DESC, p.version_id) s"
" ORDER BY s.last_seen_at DESC, s.user_id";

/* $1 retention. */
static const char purge_sql[] =
"DELETE FROM presence_tracking.presence"
" WHERE last_seen_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) $1)";

/*
 * A beat on a row that exists, written in place (rows.c) as the upsert
 * would: sets *started when it starts a streak.  Returns false, having
 * written nothing, when there is no such row or the table is left to SQL.
 * values as for heartbeat_sql.
 */
static bool
beat_existing_row(Datum *values, bool *started)
{
	PtRows		t;
	bool		found;

	if (!pt_rows_open(&t, "presence"))
		return false;
	pt_rows_set(&t, "artifact_id", values[1]);
	pt_rows_set(&t, "user_id", values[0]);
	pt_rows_set(&t, "version_id", values[2]);
	found = pt_rows_lock(&t);
	if (found)
	{
		TimestampTz last_seen = DatumGetTimestampTz(pt_rows_get(&t, "last_seen_at"));

		*started = last_seen <= DatumGetTimestampTz(values[4]);
		if (*started)
		{
			pt_rows_set(&t, "joined_at", values[3]);
			pt_rows_set(&t, "beats", Int64GetDatum(1));
		}
		else
			pt_rows_increment(&t, "beats");
		if (DatumGetTimestampTz(values[3]) > last_seen)
			pt_rows_set(&t, "last_seen_at", values[3]);
		pt_rows_update(&t);
	}
	pt_rows_close(&t);
	return found;
}

Datum
presence_tracking_heartbeat(PG_FUNCTION_ARGS)
{
	static PtPlan upsert_slot;
	static PtPlan other_version_slot;
	Oid			key_type = pt_key_type(fcinfo);
	Oid			argtypes[5] = {key_type, key_type, key_type, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[5];
	bool		written;
	bool		joined = false;
	bool		isnull;
	int			ret;

	pt_writer_args(fcinfo, key_type, values);
	pt_check_settings();
	values[4] = TimestampTzGetDatum(pt_window_start(DatumGetTimestampTz(values[3]), pt_ttl));

	written = beat_existing_row(values, &joined);
	if (written && !joined)
		PG_RETURN_BOOL(false);

	pt_spi_connect();
	if (!written)
	{
		/* No row to write in place: the upsert, which also settles a race to insert it. */
		ret = SPI_execute_plan(pt_plan(&upsert_slot, fcinfo, heartbeat_sql, 5, argtypes),
							   values, NULL, false, 1);
		if (ret != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
			elog(ERROR, "heartbeat upsert failed: %s", SPI_result_code_string(ret));
		joined = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	if (joined)
	{
		ret = SPI_execute_plan(pt_plan(&other_version_slot, fcinfo, other_version_live_sql, 5, argtypes),
							   values, NULL, false, 1);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "heartbeat join check failed: %s", SPI_result_code_string(ret));
		joined = !DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	pt_spi_finish();

	PG_RETURN_BOOL(joined);
}

/* One beat of a batch, its keys in primary key order. */
typedef struct Beat
{
	Datum		artifact;
	Datum		user;
	Datum		version;
} Beat;

static int
compare_beats(const void *a, const void *b, void *arg)
{
	const Beat *x = a;
	const Beat *y = b;
	SortSupport ssup = arg;
	int			c;

	c = ApplySortComparator(x->artifact, false, y->artifact, false, ssup);
	if (c == 0)
		c = ApplySortComparator(x->user, false, y->user, false, ssup);
	if (c == 0)
		c = ApplySortComparator(x->version, false, y->version, false, ssup);
	return c;
}

/*
 * Sorts a batch of n beats in primary key order with the key type's default
 * ordering, drops repeated beats, and stores the user, artifact and version
 * arrays of the result in values[0..2].  Done here rather than by a Sort and
 * an aggregate in the statement: a third of its time went to those.
 */
static void
sort_batch(Oid key_type, int n, Datum *users, Datum *artifacts, Datum *versions,
		   Datum *values)
{
	Beat	   *beats = palloc(sizeof(Beat) * Max(n, 1));
	Datum	   *columns[3];
	SortSupportData ssup;
	int			kept = 0;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	memset(&ssup, 0, sizeof(ssup));
	ssup.ssup_cxt = CurrentMemoryContext;
	ssup.ssup_collation = DEFAULT_COLLATION_OID;	/* the key columns' collation */
	PrepareSortSupportFromOrderingOp(lookup_type_cache(key_type, TYPECACHE_LT_OPR)->lt_opr, &ssup);

	for (int i = 0; i < n; i++)
	{
		beats[i].artifact = artifacts[i];
		beats[i].user = users[i];
		beats[i].version = versions[i];
	}
	qsort_arg(beats, n, sizeof(Beat), compare_beats, &ssup);
	for (int i = 0; i < n; i++)
		if (kept == 0 || compare_beats(&beats[kept - 1], &beats[i], &ssup) != 0)
			beats[kept++] = beats[i];

	for (int j = 0; j < 3; j++)
		columns[j] = palloc(sizeof(Datum) * Max(kept, 1));
	for (int i = 0; i < kept; i++)
	{
		columns[0][i] = beats[i].user;
		columns[1][i] = beats[i].artifact;
		columns[2][i] = beats[i].version;
	}
	get_typlenbyvalalign(key_type, &typlen, &typbyval, &typalign);
	for (int j = 0; j < 3; j++)
		values[j] = PointerGetDatum(construct_array(columns[j], kept, key_type,
													typlen, typbyval, typalign));
}

Datum
presence_tracking_heartbeat_many(PG_FUNCTION_ARGS)
{
	static PtPlan slot;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			array_type = pt_key_type(fcinfo);
	Oid			key_type = get_element_type(array_type);
	Oid			argtypes[5] = {array_type, array_type, array_type, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[5];
	Datum	   *keys[3];
	int			n = pt_check_key_array(fcinfo, 0, key_type, &keys[0]);
	int			ret;

	for (int i = 1; i < 3; i++)
		if (pt_check_key_array(fcinfo, i, key_type, &keys[i]) != n)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("user_ids, artifact_ids and version_ids must have the same length"),
					 errhint("Element i of each array describes one beat.")));
	values[3] = TimestampTzGetDatum(pt_check_time(fcinfo, 3));
	pt_check_settings();
	values[4] = TimestampTzGetDatum(pt_window_start(DatumGetTimestampTz(values[3]), pt_ttl));
	sort_batch(key_type, n, keys[0], keys[1], keys[2], values);
	InitMaterializedSRF(fcinfo, 0);

	pt_spi_connect();
	ret = SPI_execute_plan(pt_plan(&slot, fcinfo, heartbeat_many_sql, 5, argtypes),
						   values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "heartbeat_many upsert failed: %s", SPI_result_code_string(ret));
	for (uint64 i = 0; i < SPI_processed; i++)
		tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[i]);
	pt_spi_finish();

	return (Datum) 0;
}

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
