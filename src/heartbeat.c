/*
 * heartbeat.c
 *      heartbeat() and heartbeat_many(): the writes of live presence.
 *
 * A beat writes the row (artifact, user, version) of the presence table.  It
 * starts a new streak (beats = 1, joined_at = at) when the row is new or its
 * last beat is at least one TTL old, that is at or before the start of the
 * TTL window that ends at the beat; otherwise it counts one more beat.  The
 * later of the two times wins, so an older beat never moves last_seen_at
 * back.
 *
 * A row that exists, the usual case, is written in place (rows.c).  New rows
 * go to an INSERT ... ON CONFLICT statement, which also settles a race to
 * insert them.  A batch is sorted in primary key order, duplicates dropped,
 * and written in that order: the new rows wait in a run until the next row
 * that exists, and the run is inserted before that row is locked.  So every
 * call takes its row locks in key order, and concurrent batches wait for
 * each other rather than deadlock.  A single heartbeat is a batch of one.
 *
 * A join is reported per (user, artifact): when every beat of the batch on
 * the pair started a streak and no other version of the artifact has the
 * user present, its first version.  Two transactions that both start a
 * streak of one user on two versions of an artifact must not both report a
 * join, yet neither sees the other's new row: so a candidate join first
 * takes a lock on the pair, held to the end of the transaction, and then
 * looks with a fresh snapshot.  The second of the two waits for the first to
 * end and then sees its row.  A batch of many joins locks buckets of pairs
 * instead, so that it holds a bounded number of locks (lock_pairs).
 *
 * The new rows of a batch name their versions in artifact_versions first
 * (versions.c): a version beaten under another artifact is refused.
 */
#include "postgres.h"

#include "presence_tracking.h"
#include "compat.h"
#include "rules.h"

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/sortsupport.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"

/*
 * The locks candidate joins take: a lock per (artifact, user), or, for a
 * batch of more than FEW_JOINS candidates, one per bucket of pairs.  Field 4
 * of their advisory lock tags keeps them apart from pg_advisory_lock's (1, 2).
 */
#define FEW_JOINS 32
#define PAIR_BUCKETS 64
#define BUCKET_LOCK_TAG 0x5054
#define PAIR_LOCK_TAG 0x5055

PG_FUNCTION_INFO_V1(presence_tracking_heartbeat);
PG_FUNCTION_INFO_V1(presence_tracking_heartbeat_many);

/*
 * The new rows of a batch.  $1 users, $2 artifacts, $3 versions (arrays in
 * key order), $4 at, $5 at - ttl.  Returns the rows whose beat started a
 * streak: all the inserted ones, and those another call inserted meanwhile
 * whose last beat is a TTL old.
 */
#define STREAK_STARTS PT_WINDOW_PASSED_SQL("p.last_seen_at", "$5")
static const char insert_sql[] =
"WITH written AS ("
"  INSERT INTO @extschema@.presence AS p"
"    (artifact_id, user_id, version_id, last_seen_at, joined_at, beats)"
"  SELECT b.a, b.u, b.v, $4, $4, 1"
"    FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3)) AS b(u, a, v)"
"  ON CONFLICT (artifact_id, user_id, version_id) DO UPDATE SET"
"    joined_at = CASE WHEN " STREAK_STARTS " THEN EXCLUDED.last_seen_at ELSE p.joined_at END,"
"    beats = CASE WHEN " STREAK_STARTS " THEN 1 ELSE p.beats OPERATOR(pg_catalog.+) 1 END,"
"    last_seen_at = " PT_LATEST_SQL("p.last_seen_at", "EXCLUDED.last_seen_at")
"  RETURNING p.artifact_id, p.user_id, p.version_id, p.beats"
")"
" SELECT artifact_id, user_id, version_id FROM written WHERE beats OPERATOR(pg_catalog.=) 1";

/* One beat of a batch: its key, in primary key order, and what it did. */
typedef struct Beat
{
	Datum		artifact;
	Datum		user;
	Datum		version;
	bool		started;		/* started a streak */
} Beat;

typedef struct Batch
{
	FunctionCallInfo fcinfo;
	PtPlan	   *insert_plan;	/* the caller's slot for insert_sql */
	Oid			schema;			/* the extension's, by OID */
	Oid			key_type;
	SortSupportData order;		/* of the key type */
	Beat	   *beats;			/* sorted, no duplicates */
	int			n;
	TimestampTz at;
	TimestampTz window_start;	/* at - ttl */
	Beat	   *joins;			/* once written: the joins, by user and artifact */
	int			njoins;
} Batch;

static int
compare_keys(const Beat *x, const Beat *y, SortSupport order)
{
	int			c = ApplySortComparator(x->artifact, false, y->artifact, false, order);

	if (c == 0)
		c = ApplySortComparator(x->user, false, y->user, false, order);
	if (c == 0)
		c = ApplySortComparator(x->version, false, y->version, false, order);
	return c;
}

static int
compare_beats(const void *x, const void *y, void *order)
{
	return compare_keys(x, y, order);
}

/* By user, then artifact: the order of the joins returned, 0 for one pair. */
static int
compare_joins(const void *a, const void *b, void *order)
{
	const Beat *x = a;
	const Beat *y = b;
	int			c = ApplySortComparator(x->user, false, y->user, false, order);

	return c != 0 ? c : ApplySortComparator(x->artifact, false, y->artifact, false, order);
}

/*
 * A batch of n beats at "at": sorted in primary key order with the key
 * type's default ordering (the keys' collation), duplicates dropped.
 */
static void
batch_init(Batch *b, FunctionCallInfo fcinfo, PtPlan *insert_plan, Oid key_type, int n,
		   Datum *users, Datum *artifacts, Datum *versions, TimestampTz at)
{
	int			kept = 0;

	b->fcinfo = fcinfo;
	b->insert_plan = insert_plan;
	b->schema = pt_schema(fcinfo);
	b->key_type = key_type;
	memset(&b->order, 0, sizeof(b->order));
	b->order.ssup_cxt = CurrentMemoryContext;
	b->order.ssup_collation = DEFAULT_COLLATION_OID;
	PrepareSortSupportFromOrderingOp(lookup_type_cache(key_type, TYPECACHE_LT_OPR)->lt_opr, &b->order);
	b->at = at;
	pt_check_settings();
	b->window_start = pt_window_start(at, pt_ttl);

	b->beats = palloc(sizeof(Beat) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		b->beats[i].artifact = artifacts[i];
		b->beats[i].user = users[i];
		b->beats[i].version = versions[i];
		b->beats[i].started = false;
	}
	qsort_arg(b->beats, n, sizeof(Beat), compare_beats, &b->order);
	for (int i = 0; i < n; i++)
		if (kept == 0 || compare_keys(&b->beats[kept - 1], &b->beats[i], &b->order) != 0)
			b->beats[kept++] = b->beats[i];
	b->n = kept;
}

/* One key of beats[from..to), in order. */
static Datum *
beat_keys(Batch *b, int from, int to, size_t key_offset)
{
	Datum	   *keys = palloc(sizeof(Datum) * Max(to - from, 1));

	for (int i = from; i < to; i++)
		keys[i - from] = *(Datum *) ((char *) &b->beats[i] + key_offset);
	return keys;
}

/*
 * Writes the new rows beats[from..to) with insert_sql, once their versions
 * are known to belong to their artifacts.
 */
static void
insert_run(Batch *b, int from, int to)
{
	Oid			array_type = get_array_type(b->key_type);
	Oid			argtypes[5] = {array_type, array_type, array_type, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[5];
	Datum	   *versions;
	Datum	   *artifacts;
	int			ret;

	if (from >= to)
		return;
	versions = beat_keys(b, from, to, offsetof(Beat, version));
	artifacts = beat_keys(b, from, to, offsetof(Beat, artifact));
	values[0] = pt_key_array(b->key_type, to - from, beat_keys(b, from, to, offsetof(Beat, user)));
	values[1] = pt_key_array(b->key_type, to - from, artifacts);
	values[2] = pt_key_array(b->key_type, to - from, versions);
	values[3] = TimestampTzGetDatum(b->at);
	values[4] = TimestampTzGetDatum(b->window_start);

	pt_spi_connect();
	pt_check_versions(b->fcinfo, b->key_type, to - from, versions, artifacts);
	ret = SPI_execute_plan(pt_plan(b->insert_plan, b->fcinfo, insert_sql, 5, argtypes),
						   values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "heartbeat insert failed: %s", SPI_result_code_string(ret));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	row = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Beat		key;
		Beat	   *beat;
		bool		isnull;

		key.artifact = SPI_getbinval(row, desc, 1, &isnull);
		key.user = SPI_getbinval(row, desc, 2, &isnull);
		key.version = SPI_getbinval(row, desc, 3, &isnull);
		beat = bsearch_arg(&key, &b->beats[from], to - from, sizeof(Beat), compare_beats, &b->order);
		if (beat == NULL)
			elog(ERROR, "heartbeat insert returned a row that is not in the batch");
		beat->started = true;
	}
	pt_spi_finish();
}

/* The columns of the presence table, as pt_column_index finds them. */
typedef struct PresenceColumns
{
	int			artifact;
	int			user;
	int			version;
	int			last_seen;
	int			joined;
	int			beats;
} PresenceColumns;

/* Writes the beat on the row t has found and locked. */
static void
beat_locked_row(Batch *b, PtRows *t, const PresenceColumns *c, Beat *beat)
{
	TimestampTz last_seen = DatumGetTimestampTz(pt_rows_get(t, c->last_seen));

	beat->started = pt_window_passed(last_seen, b->window_start);
	if (beat->started)
	{
		pt_rows_set(t, c->joined, TimestampTzGetDatum(b->at));
		pt_rows_set(t, c->beats, Int64GetDatum(1));
	}
	else
		pt_rows_increment(t, c->beats);
	pt_rows_set(t, c->last_seen, TimestampTzGetDatum(pt_latest(last_seen, b->at)));
	pt_rows_update(t);
}

/* Writes every beat of the batch, rows locked in key order. */
static void
write_beats(Batch *b)
{
	PtRows		t;
	PresenceColumns c;
	int			run_start = 0;	/* first new row not written yet */

	if (!pt_rows_open(&t, b->schema, "presence"))
	{
		insert_run(b, 0, b->n);
		return;
	}
	c.artifact = pt_column_index(t.rel, "artifact_id");
	c.user = pt_column_index(t.rel, "user_id");
	c.version = pt_column_index(t.rel, "version_id");
	c.last_seen = pt_column_index(t.rel, "last_seen_at");
	c.joined = pt_column_index(t.rel, "joined_at");
	c.beats = pt_column_index(t.rel, "beats");
	for (int i = 0; i < b->n; i++)
	{
		Beat	   *beat = &b->beats[i];
		bool		locked = false;

		CHECK_FOR_INTERRUPTS();
		pt_rows_set(&t, c.artifact, beat->artifact);
		pt_rows_set(&t, c.user, beat->user);
		pt_rows_set(&t, c.version, beat->version);
		while (!locked && pt_rows_probe(&t))
		{
			/* The new rows before this one first, to keep the key order. */
			insert_run(b, run_start, i);
			run_start = i;
			locked = pt_rows_lock_probed(&t);
		}
		if (locked)
		{
			beat_locked_row(b, &t, &c, beat);
			run_start = i + 1;
		}
	}
	pt_rows_close(&t);
	insert_run(b, run_start, b->n);
}

/*
 * Whether the user of beats[from..to) (one user and artifact) is present on
 * a version of the artifact outside them: a row seen after the window start.
 * Read with a fresh snapshot, which also sees this call's writes.
 */
static bool
other_version_live(Batch *b, int from, int to)
{
	Relation	rel = table_open(get_relname_relid("presence", b->schema), AccessShareLock);
	Relation	pkey = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);
	int			version_column = pt_column_index(rel, "version_id");
	int			last_seen_column = pt_column_index(rel, "last_seen_at");
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyData keys[2];
	IndexScanDesc scan;
	bool		live = false;

	/* The primary key leads with (artifact_id, user_id). */
	pt_key_scankey(pkey, 0, &keys[0]);
	keys[0].sk_argument = b->beats[from].artifact;
	pt_key_scankey(pkey, 1, &keys[1]);
	keys[1].sk_argument = b->beats[from].user;
	scan = pt_index_beginscan(rel, pkey, snapshot, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	while (!live && index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		Beat		row = b->beats[from];
		bool		in_batch = false;

		slot_getsomeattrs(slot, Max(version_column, last_seen_column) + 1);
		row.version = slot->tts_values[version_column];
		for (int i = from; i < to && !in_batch; i++)
			in_batch = compare_keys(&row, &b->beats[i], &b->order) == 0;
		live = !in_batch &&
			!pt_window_passed(DatumGetTimestampTz(slot->tts_values[last_seen_column]), b->window_start);
	}
	index_endscan(scan);
	UnregisterSnapshot(snapshot);
	ExecDropSingleTupleTableSlot(slot);
	index_close(pkey, AccessShareLock);
	table_close(rel, AccessShareLock);
	return live;
}

/* The hashes of the artifact and the user of a beat. */
typedef struct PairHash
{
	uint32		artifact;
	uint32		user;
} PairHash;

static PairHash
pair_hash(Batch *b, const Beat *beat)
{
	TypeCacheEntry *type = lookup_type_cache(b->key_type, TYPECACHE_HASH_PROC_FINFO);
	PairHash	h;

	h.artifact = DatumGetUInt32(FunctionCall1Coll(&type->hash_proc_finfo, DEFAULT_COLLATION_OID,
												  beat->artifact));
	h.user = DatumGetUInt32(FunctionCall1Coll(&type->hash_proc_finfo, DEFAULT_COLLATION_OID,
											  beat->user));
	return h;
}

static uint32
pair_bucket(PairHash h)
{
	return hash_combine(h.artifact, h.user) % PAIR_BUCKETS;
}

static int
compare_pair_hashes(const void *x, const void *y)
{
	const PairHash *a = x;
	const PairHash *b = y;

	if (a->artifact != b->artifact)
		return a->artifact < b->artifact ? -1 : 1;
	return (a->user > b->user) - (a->user < b->user);
}

static int
compare_buckets(const void *x, const void *y)
{
	uint32		a = *(const uint32 *) x;
	uint32		b = *(const uint32 *) y;

	return (a > b) - (a < b);
}

/*
 * Takes the locks of the n candidate joins.  A few candidates lock their
 * pairs (and share their buckets); many lock their buckets whole, so that a
 * batch holds at most PAIR_BUCKETS locks.  Buckets before pairs, each kind
 * in ascending order, so that callers do not deadlock.
 */
static void
lock_pairs(Batch *b, Beat *candidates, int n)
{
	PairHash   *pairs = palloc(sizeof(PairHash) * Max(n, 1));
	uint32	   *buckets = palloc(sizeof(uint32) * Max(n, 1));
	bool		few = n <= FEW_JOINS;
	LOCKTAG		tag;

	for (int i = 0; i < n; i++)
	{
		pairs[i] = pair_hash(b, &candidates[i]);
		buckets[i] = pair_bucket(pairs[i]);
	}
	qsort(buckets, n, sizeof(uint32), compare_buckets);
	for (int i = 0; i < n; i++)
	{
		if (i > 0 && buckets[i] == buckets[i - 1])
			continue;
		SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, b->schema, buckets[i], BUCKET_LOCK_TAG);
		(void) LockAcquire(&tag, few ? ShareLock : ExclusiveLock, false, false);
	}
	if (few)
	{
		qsort(pairs, n, sizeof(PairHash), compare_pair_hashes);
		for (int i = 0; i < n; i++)
		{
			if (i > 0 && compare_pair_hashes(&pairs[i], &pairs[i - 1]) == 0)
				continue;
			SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, pairs[i].artifact, pairs[i].user, PAIR_LOCK_TAG);
			(void) LockAcquire(&tag, ExclusiveLock, false, false);
		}
	}
	pfree(pairs);
	pfree(buckets);
}

/*
 * The joins of a written batch, ordered by user and artifact; returns how
 * many.  Beats of one (artifact, user) are next to each other in the batch.
 * Candidates (every beat on the pair started a streak) are locked first and
 * then checked against the other versions of their artifact.
 */
static int
batch_joins(Batch *b, Beat **joins_out)
{
	Beat	   *candidates = palloc(sizeof(Beat) * Max(b->n, 1));
	int		   *ends = palloc(sizeof(int) * Max(b->n, 1));
	int		   *starts = palloc(sizeof(int) * Max(b->n, 1));
	int			ncandidates = 0;
	int			njoins = 0;

	for (int from = 0, to; from < b->n; from = to)
	{
		bool		all_started = true;

		for (to = from; to < b->n && compare_joins(&b->beats[to], &b->beats[from], &b->order) == 0; to++)
			all_started &= b->beats[to].started;
		if (all_started)
		{
			starts[ncandidates] = from;
			ends[ncandidates] = to;
			candidates[ncandidates++] = b->beats[from];
		}
	}
	lock_pairs(b, candidates, ncandidates);
	for (int i = 0; i < ncandidates; i++)
		if (!other_version_live(b, starts[i], ends[i]))
			candidates[njoins++] = candidates[i];
	qsort_arg(candidates, njoins, sizeof(Beat), compare_joins, &b->order);
	*joins_out = candidates;
	return njoins;
}

/* Writes the batch and finds its joins, with the writer's rights (definer.c). */
static void
write_batch(void *arg)
{
	Batch	   *b = arg;

	write_beats(b);
	b->njoins = batch_joins(b, &b->joins);
}

Datum
presence_tracking_heartbeat(PG_FUNCTION_ARGS)
{
	static PtPlan insert_plan;
	Oid			key_type = pt_key_type(fcinfo);
	Datum		values[4];
	Batch		b;

	pt_writer_args(fcinfo, key_type, values);
	batch_init(&b, fcinfo, &insert_plan, key_type, 1, &values[0], &values[1], &values[2],
			   DatumGetTimestampTz(values[3]));
	pt_write_as_definer(fcinfo, write_batch, &b);
	PG_RETURN_BOOL(b.njoins == 1);
}

Datum
presence_tracking_heartbeat_many(PG_FUNCTION_ARGS)
{
	static PtPlan insert_plan;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			key_type = get_element_type(pt_key_type(fcinfo));
	Datum	   *keys[3];
	int			n;
	Batch		b;

	pt_check_writable(fcinfo);
	n = pt_check_beat_arrays(fcinfo, key_type, keys);
	batch_init(&b, fcinfo, &insert_plan, key_type, n, keys[0], keys[1], keys[2],
			   pt_check_time(fcinfo, 3));
	InitMaterializedSRF(fcinfo, 0);

	pt_write_as_definer(fcinfo, write_batch, &b);
	for (int i = 0; i < b.njoins; i++)
	{
		Datum		row[3] = {b.joins[i].user, b.joins[i].artifact, b.joins[i].version};
		bool		nulls[3] = {false, false, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, nulls);
	}
	return (Datum) 0;
}
