/*
 * sessions.c
 *      Live presence (release 1.3): heartbeat() and heartbeat_many() with
 *      sessions, states and data, leave(), and the timeout sweep.
 *
 * A presence row is one session of a user on a version.  What a face pile
 * shows of a user on an artifact (present or not; version, state, data) is
 * a function of the user's open sessions there (rules.h).  Every call that
 * can change it settles the (artifact, user) pair: under a lock on the pair
 * it reads the open sessions, ends those whose TTL has passed, makes its
 * own writes, reads them again, and announces the differences at commit
 * (NOTIFY presence_tracking): a leave when the expired sessions were the
 * last, then join, leave or update for its own change.  So the events of a
 * pair form one sequence in commit order, and a listener that applies them
 * holds what the open sessions say.
 *
 * Most beats change nothing a face pile shows: the session is open, within
 * its TTL, and keeps its version, state and data.  Such a beat only moves
 * last_seen_at, in place (rows.c), under a shared lock on the pair; a beat
 * that changes more takes the pair's lock exclusively and settles it with
 * SQL.  A call locks its pairs for plain beats first and reads its rows
 * under those locks; a pair that turns out to need settling makes the call
 * give back its locks (it has written nothing) and lock again (write_beats).
 * All locks of a call are taken before its first row lock, in one global
 * order, so calls wait for each other rather than deadlock.  A batch of
 * many pairs locks buckets of pairs instead of pairs (lock_pairs), so that
 * it holds a bounded number of locks; the lock modes form an intention
 * hierarchy (bucket, pair).
 *
 * The sessions of beats without a session_id are one per version, as every
 * beat was counted before 1.3 (session_id '').  A named session lives on
 * one version: a beat on another version moves it.
 */
#include "postgres.h"

#include "presence_tracking.h"
#include "compat.h"
#include "rules.h"

#include "access/detoast.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_operator_d.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/sortsupport.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"

#define FEW_PAIRS 32
#define PAIR_BUCKETS 64
#define BUCKET_LOCK_TAG 0x5056
#define PAIR_LOCK_TAG 0x5057

/* The longest NOTIFY payload PostgreSQL accepts, plus one (as in async.c). */
#define NOTIFY_MAX_PAYLOAD (BLCKSZ - NAMEDATALEN - 128)

/*
 * Pair locks one transaction takes before it locks buckets instead, so
 * that a transaction of many calls cannot fill the shared lock table.
 */
#define MAX_PAIR_LOCKS_PER_XACT 256

PG_FUNCTION_INFO_V1(presence_tracking_beat);
PG_FUNCTION_INFO_V1(presence_tracking_beat_many);
PG_FUNCTION_INFO_V1(presence_tracking_leave);
PG_FUNCTION_INFO_V1(presence_tracking_expire_sessions);
PG_FUNCTION_INFO_V1(presence_tracking_forget_presence);

/* The open sessions of pairs: $1 artifacts, $2 users (arrays, one per pair). */
static const char open_sessions_sql[] =
"SELECT p.artifact_id, p.user_id, p.session_id, p.version_id, p.state, p.data,"
"       p.changed_at, p.last_seen_at"
"  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS k(a, u)"
"  JOIN @extschema@.presence p ON p.artifact_id" EQ "k.a AND p.user_id" EQ "k.u"
" WHERE p.ended_at IS NULL";

/*
 * Ends the open sessions of pairs whose TTL has passed: $3 at - ttl, $4 ttl
 * (whole seconds).  The end is added in UTC: the same instant, by immutable
 * functions, which Citus requires of an UPDATE's SET on a column.
 */
static const char end_expired_sql[] =
"UPDATE @extschema@.presence p"
"   SET ended_at = pg_catalog.timezone('UTC', pg_catalog.timezone('UTC', p.last_seen_at) OPERATOR(pg_catalog.+) $4),"
"       end_reason = 'timed_out'"
"  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS k(a, u)"
" WHERE p.artifact_id" EQ "k.a AND p.user_id" EQ "k.u AND p.ended_at IS NULL"
"   AND " PT_WINDOW_PASSED_SQL("p.last_seen_at", "$3");

/*
 * purge(): the open sessions of pairs whose last beat is before $3 go at
 * once (ending them first would only write a row version to delete).
 */
static const char delete_stale_sql[] =
"DELETE FROM @extschema@.presence p"
" USING ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS k(a, u)"
" WHERE p.artifact_id" EQ "k.a AND p.user_id" EQ "k.u AND p.ended_at IS NULL"
"   AND p.last_seen_at OPERATOR(pg_catalog.<) $3";

/* A named session that beats on another version leaves the old one. */
static const char move_sessions_sql[] =
"DELETE FROM @extschema@.presence p"
" USING ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
"                  pg_catalog.unnest($4)) AS b(a, u, s, v)"
" WHERE p.artifact_id" EQ "b.a AND p.user_id" EQ "b.u AND p.session_id" EQ "b.s"
"   AND p.version_id OPERATOR(pg_catalog.<>) b.v";

/*
 * The beats: $1 artifacts, $2 users, $3 sessions, $4 versions, $5 states,
 * $6 data, $7 at.  Expired sessions of the pairs were ended first, so an
 * ended row starts a new streak and an open one counts one more beat.
 */
#define WRITE_BEATS_INTO \
"INSERT INTO @extschema@.presence AS p" \
"  (artifact_id, user_id, session_id, version_id, last_seen_at, joined_at, beats," \
"   state, data, changed_at)"
#define WRITE_BEATS_ON_CONFLICT \
" ON CONFLICT (artifact_id, user_id, session_id, version_id) DO UPDATE SET" \
"  joined_at = CASE WHEN p.ended_at IS NULL THEN p.joined_at ELSE EXCLUDED.joined_at END," \
"  beats = CASE WHEN p.ended_at IS NULL THEN p.beats OPERATOR(pg_catalog.+) 1 ELSE 1 END," \
"  last_seen_at = " PT_LATEST_SQL("p.last_seen_at", "EXCLUDED.last_seen_at") "," \
"  changed_at = CASE WHEN p.ended_at IS NULL AND p.state" EQ "EXCLUDED.state" \
"                     AND p.data IS NOT DISTINCT FROM EXCLUDED.data" \
"                    THEN p.changed_at ELSE EXCLUDED.changed_at END," \
"  state = EXCLUDED.state, data = EXCLUDED.data, ended_at = NULL, end_reason = NULL"
static const char write_beats_sql[] =
WRITE_BEATS_INTO
"SELECT b.a, b.u, b.s, b.v, $7, $7, 1, b.st, b.d, $7"
"  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
"                  pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6))"
"       AS b(a, u, s, v, st, d)"
WRITE_BEATS_ON_CONFLICT;

/*
 * One beat, the same way, with the same parameters as single values: on a
 * Citus cluster, where an INSERT from a function goes through the
 * coordinator and commits in two phases, and a row of values goes straight
 * to its shard.
 */
static const char write_beat_sql[] =
WRITE_BEATS_INTO " VALUES ($1, $2, $3, $4, $7, $7, 1, $5, $6, $7)" WRITE_BEATS_ON_CONFLICT;

/* leave(): $1 artifact, $2 user, $3 session or NULL (all), $4 now. */
static const char leave_sql[] =
"UPDATE @extschema@.presence p SET ended_at = $4, end_reason = 'left'"
" WHERE p.artifact_id" EQ "$1 AND p.user_id" EQ "$2 AND p.ended_at IS NULL"
"   AND ($3 IS NULL OR p.session_id" EQ "$3)";

/* forget_user(): the artifacts where the user $1 has an open session. */
static const char user_artifacts_sql[] =
"SELECT DISTINCT p.artifact_id FROM @extschema@.presence p WHERE p.user_id" EQ "$1 AND p.ended_at IS NULL";

/* forget_user(): what is left of the user's sessions. */
static const char forget_user_sql[] =
"DELETE FROM @extschema@.presence p WHERE p.user_id" EQ "$1";

/* forget_user(): every session of the pairs. */
static const char forget_pairs_sql[] =
"DELETE FROM @extschema@.presence p"
" USING ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS k(a, u)"
" WHERE p.artifact_id" EQ "k.a AND p.user_id" EQ "k.u";

/* Pairs with an open session past its TTL: $1 now - ttl, $2 how many. */
static const char expired_pairs_sql[] =
"SELECT DISTINCT p.artifact_id, p.user_id FROM @extschema@.presence p"
" WHERE p.ended_at IS NULL AND " PT_WINDOW_PASSED_SQL("p.last_seen_at", "$1")
" LIMIT $2";

/* What a face pile shows of a user on an artifact (rules.h). */
typedef struct Shown
{
	bool		present;
	int			state;			/* rank: index into pt_state_names */
	Datum		version;		/* of the most recent session */
	Datum		session;
	TimestampTz changed_at;
	Datum		data;
	bool		data_null;
} Shown;

typedef struct Pair
{
	Datum		artifact;
	Datum		user;
	bool		settle;			/* locked exclusively and settled with SQL */
	Shown		before;			/* open sessions before the call */
	Shown		live;			/* of those, the ones within their TTL */
	Shown		after;
	bool		expired;		/* had open sessions past their TTL */
	TimestampTz timed_out_at;	/* when the last of those timed out */
} Pair;

typedef struct Beat
{
	Datum		artifact;
	Datum		user;
	Datum		session;		/* text; '' for none */
	Datum		version;
	int			state;
	Datum		data;
	bool		data_null;
	int			pair;			/* index in Call.pairs */
	int			order;			/* position in the call's arrays */
	bool		plain;			/* changes nothing a face pile shows */
	ItemPointerData row;		/* where its row was read (plain beats) */
} Beat;

/* One call of a writer, or one batch of the sweep. */
typedef struct Call
{
	FunctionCallInfo fcinfo;	/* NULL in the background worker */
	Oid			plan_owner;
	Oid			schema;
	Oid			key_type;
	bool		key_byval;
	int16		key_len;
	MemoryContext cxt;
	SortSupportData keys;		/* the key type's order */
	SortSupportData texts;		/* session ids' order */
	FmgrInfo   *key_hash;		/* the key type's hash function */
	TimestampTz at;
	TimestampTz window_start;	/* at - ttl */
	Beat	   *beats;			/* sorted by primary key, no duplicates */
	int			nbeats;
	Pair	   *pairs;			/* sorted by (artifact, user) */
	int			npairs;
	Datum		leave_session;	/* leave(): the session, or 0 for all */
	int			few_pairs;		/* up to this many pairs, lock pairs, not buckets */
	TimestampTz delete_before;	/* purge: delete open sessions seen before this */
	bool		in_citus;		/* presence is in Citus's shards (citus.c) */
	uint64		ended;			/* sessions the sweep ended */
	uint64		deleted;		/* sessions purge deleted */
} Call;

static void
call_init(Call *c, FunctionCallInfo fcinfo, Oid plan_owner, Oid schema, Oid key_type,
		  TimestampTz at)
{
	memset(c, 0, sizeof(*c));
	c->fcinfo = fcinfo;
	c->plan_owner = plan_owner;
	c->schema = schema;
	c->key_type = key_type;
	get_typlenbyval(key_type, &c->key_len, &c->key_byval);
	c->cxt = CurrentMemoryContext;
	c->keys.ssup_cxt = CurrentMemoryContext;
	c->keys.ssup_collation = DEFAULT_COLLATION_OID;
	PrepareSortSupportFromOrderingOp(lookup_type_cache(key_type, TYPECACHE_LT_OPR)->lt_opr, &c->keys);
	c->texts.ssup_cxt = CurrentMemoryContext;
	c->texts.ssup_collation = DEFAULT_COLLATION_OID;
	PrepareSortSupportFromOrderingOp(TextLessOperator, &c->texts);
	c->key_hash = &lookup_type_cache(key_type, TYPECACHE_HASH_PROC_FINFO)->hash_proc_finfo;
	pt_check_settings();
	c->at = at;
	c->window_start = pt_window_start(at, pt_ttl);
	c->few_pairs = FEW_PAIRS;
	c->in_citus = pt_citus_table(get_relname_relid("presence", schema));
	/* The pair locks and the events of a cluster are its coordinator's. */
	if (c->in_citus && pt_citus_worker_node())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("presence is written through the coordinator of the Citus cluster"),
				 errdetail("This is a worker node: the locks that order a user's sessions and the events listeners hear are the coordinator's."),
				 errhint("Connect to the coordinator to call the presence writers.")));
}

static int
compare_pair_keys(Datum artifact1, Datum user1, Datum artifact2, Datum user2, SortSupport keys)
{
	int			r = ApplySortComparator(artifact1, false, artifact2, false, keys);

	return r != 0 ? r : ApplySortComparator(user1, false, user2, false, keys);
}

/* Primary key order: artifact, user, session, version. */
static int
compare_beats(const void *x, const void *y, void *arg)
{
	const Beat *a = x;
	const Beat *b = y;
	Call	   *c = arg;
	int			r = compare_pair_keys(a->artifact, a->user, b->artifact, b->user, &c->keys);

	if (r == 0)
		r = ApplySortComparator(a->session, false, b->session, false, &c->texts);
	if (r == 0)
		r = ApplySortComparator(a->version, false, b->version, false, &c->keys);
	return r;
}

/* Primary key order, then the order of the call's arrays. */
static int
compare_beats_in_order(const void *x, const void *y, void *arg)
{
	int			r = compare_beats(x, y, arg);

	return r != 0 ? r : ((const Beat *) x)->order - ((const Beat *) y)->order;
}

static int
compare_pairs(const void *x, const void *y, void *arg)
{
	const Pair *a = x;
	const Pair *b = y;

	return compare_pair_keys(a->artifact, a->user, b->artifact, b->user, arg);
}

static bool
is_named(Datum session)
{
	return VARSIZE_ANY_EXHDR(DatumGetPointer(session)) > 0;
}

/*
 * Sorts the beats, drops duplicates (the last of a key given twice wins:
 * its state and data) and groups them by pair.  A named session lives on
 * one version: two versions of it in one call are refused.
 */
static void
call_set_beats(Call *c, Beat *beats, int n)
{
	int			kept = 0;

	for (int i = 0; i < n; i++)
		beats[i].order = i;
	qsort_arg(beats, n, sizeof(Beat), compare_beats_in_order, c);
	for (int i = 0; i < n; i++)
	{
		Beat	   *prev = kept > 0 ? &beats[kept - 1] : NULL;

		if (prev != NULL && compare_beats(prev, &beats[i], c) == 0)
		{
			*prev = beats[i];
			continue;
		}
		if (prev != NULL && is_named(beats[i].session) &&
			compare_pair_keys(prev->artifact, prev->user, beats[i].artifact, beats[i].user, &c->keys) == 0 &&
			ApplySortComparator(prev->session, false, beats[i].session, false, &c->texts) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("session \"%s\" beats on two versions in one call",
							TextDatumGetCString(beats[i].session)),
					 errhint("A session is on one version at a time: send its latest beat only.")));
		beats[kept++] = beats[i];
	}
	c->beats = beats;
	c->nbeats = kept;
	c->pairs = palloc0(sizeof(Pair) * Max(kept, 1));
	for (int i = 0; i < kept; i++)
	{
		Beat	   *b = &beats[i];

		if (c->npairs == 0 ||
			compare_pair_keys(c->pairs[c->npairs - 1].artifact, c->pairs[c->npairs - 1].user,
							  b->artifact, b->user, &c->keys) != 0)
		{
			c->pairs[c->npairs].artifact = b->artifact;
			c->pairs[c->npairs].user = b->user;
			c->npairs++;
		}
		b->pair = c->npairs - 1;
	}
}

/*
 * Pair locks.  Modes, from the pair's point of view: a plain beat takes
 * the pair in ShareLock (its bucket in RowShareLock), a settling call takes
 * it in ExclusiveLock (its bucket in RowExclusiveLock); a call of many
 * pairs takes whole buckets in ShareLock (all plain) or ExclusiveLock.  The
 * conflicts of PostgreSQL's lock modes then make exactly the right calls
 * wait for each other.
 */
typedef struct PairLock
{
	uint32		bucket;
	uint32		artifact_hash;
	uint32		user_hash;
	bool		settle;
} PairLock;

typedef struct TakenLocks
{
	LOCKTAG    *tags;
	LOCKMODE   *modes;
	int			n;
} TakenLocks;

static uint32
key_hash(Call *c, Datum key)
{
	return DatumGetUInt32(FunctionCall1Coll(c->key_hash, DEFAULT_COLLATION_OID, key));
}

static int
compare_pair_locks(const void *x, const void *y)
{
	const PairLock *a = x;
	const PairLock *b = y;

	if (a->bucket != b->bucket)
		return a->bucket < b->bucket ? -1 : 1;
	if (a->artifact_hash != b->artifact_hash)
		return a->artifact_hash < b->artifact_hash ? -1 : 1;
	if (a->user_hash != b->user_hash)
		return a->user_hash < b->user_hash ? -1 : 1;
	return (int) b->settle - (int) a->settle;	/* the stronger first */
}

static void
take(Call *c, TakenLocks *taken, uint32 field1, uint32 field2, uint16 field4, LOCKMODE mode)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, field1, field2, field4);
	if (LockAcquire(&tag, mode, false, false) == LOCKACQUIRE_OK)
	{
		taken->tags[taken->n] = tag;
		taken->modes[taken->n++] = mode;
	}
}

/*
 * Takes the locks of every pair of the call: buckets (ascending), each once
 * in the strongest mode its pairs need, then pairs (ascending by hash), each
 * once.  Returns the locks newly taken, which release_locks can give back
 * while the call has written nothing: a lock taken twice would outlive
 * that, and could make the call's second attempt wait out of order.
 */
static TakenLocks
lock_pairs(Call *c)
{
	static LocalTransactionId counted_lxid = InvalidLocalTransactionId;
	static int	pair_locks_in_xact = 0;
	enum
	{
		NOT_NEEDED, PLAIN, SETTLE
	}			bucket_needs[PAIR_BUCKETS] = {NOT_NEEDED};
	PairLock   *locks;
	bool		few;
	TakenLocks	taken;

	if (counted_lxid != MyProc->lxid)
	{
		counted_lxid = MyProc->lxid;
		pair_locks_in_xact = 0;
	}
	few = c->npairs <= c->few_pairs && pair_locks_in_xact + c->npairs <= MAX_PAIR_LOCKS_PER_XACT;
	if (few)
		pair_locks_in_xact += c->npairs;

	/* Only a few pairs are locked one by one; the buckets are bounded. */
	locks = palloc(sizeof(PairLock) * (few ? Max(c->npairs, 1) : 1));
	taken.tags = palloc(sizeof(LOCKTAG) * (PAIR_BUCKETS + (few ? c->npairs : 0)));
	taken.modes = palloc(sizeof(LOCKMODE) * (PAIR_BUCKETS + (few ? c->npairs : 0)));
	taken.n = 0;
	for (int i = 0; i < c->npairs; i++)
	{
		PairLock	lock;

		lock.artifact_hash = key_hash(c, c->pairs[i].artifact);
		lock.user_hash = key_hash(c, c->pairs[i].user);
		lock.bucket = hash_combine(lock.artifact_hash, lock.user_hash) % PAIR_BUCKETS;
		lock.settle = c->pairs[i].settle;
		bucket_needs[lock.bucket] = Max(bucket_needs[lock.bucket], lock.settle ? SETTLE : PLAIN);
		if (few)
			locks[i] = lock;
	}
	for (uint32 bucket = 0; bucket < PAIR_BUCKETS; bucket++)
	{
		if (bucket_needs[bucket] == NOT_NEEDED)
			continue;
		if (few)
			take(c, &taken, bucket, 0, BUCKET_LOCK_TAG,
				 bucket_needs[bucket] == SETTLE ? RowExclusiveLock : RowShareLock);
		else
			take(c, &taken, bucket, 0, BUCKET_LOCK_TAG,
				 bucket_needs[bucket] == SETTLE ? ExclusiveLock : ShareLock);
	}
	if (few)
	{
		qsort(locks, c->npairs, sizeof(PairLock), compare_pair_locks);
		/* Of pairs whose hashes are equal, the first is the strongest. */
		for (int i = 0; i < c->npairs; i++)
			if (i == 0 || locks[i].bucket != locks[i - 1].bucket ||
				locks[i].artifact_hash != locks[i - 1].artifact_hash ||
				locks[i].user_hash != locks[i - 1].user_hash)
				take(c, &taken, locks[i].artifact_hash, locks[i].user_hash, PAIR_LOCK_TAG,
					 locks[i].settle ? ExclusiveLock : ShareLock);
	}
	pfree(locks);
	return taken;
}

static void
release_locks(TakenLocks *taken)
{
	for (int i = taken->n - 1; i >= 0; i--)
		LockRelease(&taken->tags[i], taken->modes[i], false);
	taken->n = 0;
}

/* The columns of the presence table that a plain beat reads or writes. */
typedef struct Columns
{
	int			artifact;
	int			user;
	int			session;
	int			version;
	int			last_seen;
	int			beats;
	int			state;
	int			data;
	int			ended;
} Columns;

static void
find_columns(Relation rel, Columns *col)
{
	col->artifact = pt_column_index(rel, "artifact_id");
	col->user = pt_column_index(rel, "user_id");
	col->session = pt_column_index(rel, "session_id");
	col->version = pt_column_index(rel, "version_id");
	col->last_seen = pt_column_index(rel, "last_seen_at");
	col->beats = pt_column_index(rel, "beats");
	col->state = pt_column_index(rel, "state");
	col->data = pt_column_index(rel, "data");
	col->ended = pt_column_index(rel, "ended_at");
}

static void
set_key(PtRows *t, const Columns *col, const Beat *b)
{
	pt_rows_set(t, col->artifact, b->artifact);
	pt_rows_set(t, col->user, b->user);
	pt_rows_set(t, col->session, b->session);
	pt_rows_set(t, col->version, b->version);
}

/*
 * Whether the beat's session is open, within its TTL, and keeps its state
 * and data, as the row found (probe) or locked (values) holds it.
 */
static bool
row_is_plain(Call *c, const Columns *col, const Beat *b, Datum *values, bool *nulls)
{
	const char *state = pt_state_names[b->state];
	text	   *stored;

	if (!nulls[col->ended] || nulls[col->last_seen] ||
		pt_window_passed(DatumGetTimestampTz(values[col->last_seen]), c->window_start))
		return false;
	stored = DatumGetTextPP(values[col->state]);
	if (VARSIZE_ANY_EXHDR(stored) != strlen(state) ||
		memcmp(VARDATA_ANY(stored), state, strlen(state)) != 0)
		return false;
	if (nulls[col->data] || b->data_null)
		return nulls[col->data] && b->data_null;
	return datum_image_eq(PointerGetDatum(PG_DETOAST_DATUM(values[col->data])),
						  PointerGetDatum(PG_DETOAST_DATUM(b->data)), false, -1);
}

static bool
probe_plain(Call *c, PtRows *t, const Columns *col, Beat *b)
{
	set_key(t, col, b);
	if (!pt_rows_probe(t))
		return false;
	b->row = t->old->tts_tid;
	slot_getallattrs(t->old);
	return row_is_plain(c, col, b, t->old->tts_values, t->old->tts_isnull);
}

/*
 * Reads every beat's row under the pair locks taken: a beat is plain when
 * its session is open, within its TTL and keeps its state and data.
 * Returns whether every pair with a beat that is not plain is locked to be
 * settled; if not, marks it so, for the caller to lock again.
 */
static bool
classify(Call *c, PtRows *t, const Columns *col)
{
	bool		locked_enough = true;

	for (int i = 0; i < c->nbeats; i++)
	{
		Beat	   *b = &c->beats[i];
		Pair	   *pair = &c->pairs[b->pair];

		CHECK_FOR_INTERRUPTS();
		b->plain = probe_plain(c, t, col, b);
		if (!b->plain && !pair->settle)
		{
			pair->settle = true;
			locked_enough = false;
		}
	}
	return locked_enough;
}

/* Writes the beats of pairs that need no settling, in place. */
static void
write_plain_beats(Call *c, PtRows *t, const Columns *col)
{
	for (int i = 0; i < c->nbeats; i++)
	{
		Beat	   *b = &c->beats[i];

		if (c->pairs[b->pair].settle)
			continue;
		set_key(t, col, b);
		/* The row as read, unless another plain beat has written it since. */
		if ((!pt_rows_lock_at(t, &b->row) && !pt_rows_lock(t)) ||
			!row_is_plain(c, col, b, t->row->tts_values, t->row->tts_isnull))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("presence session changed during a heartbeat"),
					 errhint("Send the heartbeat again.")));
		pt_rows_increment(t, col->beats);
		pt_rows_set(t, col->last_seen,
					TimestampTzGetDatum(pt_latest(DatumGetTimestampTz(pt_rows_get(t, col->last_seen)), c->at)));
		pt_rows_update(t);
	}
}

/* Whether session row r comes before the shown one as the most recent. */
static bool
more_recent(Call *c, TimestampTz changed_at, Datum session, Datum version, const Shown *s)
{
	int			r;

	if (!s->present || changed_at != s->changed_at)
		return !s->present || changed_at > s->changed_at;
	r = ApplySortComparator(session, false, s->session, false, &c->texts);
	if (r == 0)
		r = ApplySortComparator(version, false, s->version, false, &c->keys);
	return r < 0;
}

static void
show_session(Call *c, Shown *s, Datum session, Datum version, int state, Datum data,
			 bool data_null, TimestampTz changed_at)
{
	if (more_recent(c, changed_at, session, version, s))
	{
		s->session = session;
		s->version = version;
		s->changed_at = changed_at;
		s->data = data;
		s->data_null = data_null;
	}
	if (!s->present || state > s->state)
		s->state = state;
	s->present = true;
}

/* The rank of a state name (index in pt_state_names), or -1. */
static int
state_rank(const char *state)
{
	for (int i = 0; i < (int) lengthof(pt_state_names); i++)
		if (strcmp(state, pt_state_names[i]) == 0)
			return i;
	return -1;
}

static Oid
key_array_type(Call *c)
{
	return get_array_type(c->key_type);
}

static Datum
pair_keys(Call *c, bool users)
{
	Datum	   *keys = palloc(sizeof(Datum) * Max(c->npairs, 1));
	int			n = 0;

	for (int i = 0; i < c->npairs; i++)
		if (c->pairs[i].settle)
			keys[n++] = users ? c->pairs[i].user : c->pairs[i].artifact;
	return pt_key_array(c->key_type, n, keys);
}

static SPIPlanPtr
plan(Call *c, PtPlan *slot, const char *sql, int nargs, Oid *argtypes)
{
	return pt_plan_in(slot, c->plan_owner, c->schema, sql, nargs, argtypes);
}

/*
 * A statement over the pairs, whose $1 is their artifacts.  On a Citus
 * cluster it also names them as a list, so that Citus sends it to their
 * shards alone (one, for one pair) rather than to every shard.  Not on one
 * node, where the list would read every session of those artifacts.
 */
static SPIPlanPtr
plan_for_pairs(Call *c, PtPlan slots[2], const char *sql, int nargs, Oid *argtypes)
{
	/* A plan of each text: a backend may outlive distribute(). */
	if (c->in_citus)
		return plan(c, &slots[1], psprintf("%s AND p.artifact_id" EQ "ANY ($1)", sql), nargs, argtypes);
	return plan(c, &slots[0], sql, nargs, argtypes);
}

/*
 * Reads the open sessions of the settled pairs into their "before" (first
 * read) or "after" shown rows.  Copies what it keeps out of SPI's memory.
 */
static void
read_open_sessions(Call *c, bool first)
{
	static PtPlan slots[2];
	Oid			argtypes[2] = {key_array_type(c), key_array_type(c)};
	Datum		values[2] = {pair_keys(c, false), pair_keys(c, true)};
	int			ret;

	/*
	 * The latest committed state (and this transaction's writes), whatever
	 * the isolation level: under the pair's lock it is what the next call
	 * on the pair will see, so the events follow one another.  A REPEATABLE
	 * READ transaction that writes a row changed since its snapshot still
	 * fails with 40001.
	 */
	ret = SPI_execute_snapshot(plan_for_pairs(c, slots, open_sessions_sql, 2, argtypes), values, NULL,
							   GetLatestSnapshot(), InvalidSnapshot, false, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "presence read failed: %s", SPI_result_code_string(ret));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	row = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext spi = MemoryContextSwitchTo(c->cxt);
		Pair		key;
		Pair	   *pair;
		bool		isnull;
		bool		data_null;
		Datum		session;
		Datum		version;
		Datum		data;
		int			state;
		TimestampTz changed_at;
		TimestampTz last_seen;

		key.artifact = SPI_getbinval(row, desc, 1, &isnull);
		key.user = SPI_getbinval(row, desc, 2, &isnull);
		pair = bsearch_arg(&key, c->pairs, c->npairs, sizeof(Pair), compare_pairs, &c->keys);
		if (pair == NULL || !pair->settle)
			elog(ERROR, "presence read returned a session of another pair");
		session = datumCopy(SPI_getbinval(row, desc, 3, &isnull), false, -1);
		version = datumCopy(SPI_getbinval(row, desc, 4, &isnull), c->key_byval, c->key_len);
		state = Max(state_rank(TextDatumGetCString(SPI_getbinval(row, desc, 5, &isnull))), 0);
		data = SPI_getbinval(row, desc, 6, &data_null);
		if (!data_null)
			data = datumCopy(data, false, -1);
		changed_at = DatumGetTimestampTz(SPI_getbinval(row, desc, 7, &isnull));
		last_seen = DatumGetTimestampTz(SPI_getbinval(row, desc, 8, &isnull));
		MemoryContextSwitchTo(spi);

		if (!first)
			show_session(c, &pair->after, session, version, state, data, data_null, changed_at);
		else
		{
			show_session(c, &pair->before, session, version, state, data, data_null, changed_at);
			if (!pt_window_passed(last_seen, c->window_start))
				show_session(c, &pair->live, session, version, state, data, data_null, changed_at);
			else if (!pair->expired ||
					 last_seen + (TimestampTz) pt_ttl * USECS_PER_SEC > pair->timed_out_at)
			{
				pair->expired = true;
				pair->timed_out_at = last_seen + (TimestampTz) pt_ttl * USECS_PER_SEC;
			}
		}
	}
}

/*
 * Runs a write over the settled pairs: $1 their artifacts, $2 their users,
 * then up to two more parameters.  Returns the rows it wrote; any result but
 * expected is an error about what it did.
 */
static uint64
write_pairs(Call *c, PtPlan slots[2], const char *sql, int nmore, const Oid *more_types,
			const Datum *more_values, int expected, const char *what)
{
	Oid			argtypes[4] = {key_array_type(c), key_array_type(c)};
	Datum		values[4] = {pair_keys(c, false), pair_keys(c, true)};
	int			ret;

	Assert(nmore <= 2);
	for (int i = 0; i < nmore; i++)
	{
		argtypes[2 + i] = more_types[i];
		values[2 + i] = more_values[i];
	}
	ret = SPI_execute_plan(plan_for_pairs(c, slots, sql, 2 + nmore, argtypes), values, NULL, false, 0);
	if (ret != expected)
		elog(ERROR, "presence %s failed: %s", what, SPI_result_code_string(ret));
	return SPI_processed;
}

static void
delete_stale_sessions(Call *c)
{
	static PtPlan slots[2];
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		values[1] = {TimestampTzGetDatum(c->delete_before)};

	c->deleted += write_pairs(c, slots, delete_stale_sql, 1, types, values, SPI_OK_DELETE, "purge");
}

static void
end_expired_sessions(Call *c)
{
	static PtPlan slots[2];
	Oid			types[2] = {TIMESTAMPTZOID, INTERVALOID};
	Datum		values[2] = {TimestampTzGetDatum(c->window_start),
	IntervalPGetDatum(pt_seconds_interval(pt_ttl))};

	c->ended += write_pairs(c, slots, end_expired_sql, 2, types, values, SPI_OK_UPDATE, "timeout");
}

/* The JSON text of a key: a string, whatever the key type. */
static void
append_key(Call *c, StringInfo buf, const char *name, Datum key)
{
	Oid			out;
	bool		varlena;

	getTypeOutputInfo(c->key_type, &out, &varlena);
	appendStringInfo(buf, ", \"%s\": ", name);
	escape_json(buf, OidOutputFunctionCall(out, key));
}

/* Events this session has announced (see announce). */
static uint64 events_sent = 0;

/* NOTIFY presence_tracking, at commit, with one change of a pair. */
static void
announce(Call *c, const char *event, const Pair *pair, const Shown *s, TimestampTz at)
{
	StringInfoData buf;
	char		time[MAXDATELEN + 1];

	if (!pt_notify)
		return;
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"event\": \"%s\"", event);
	append_key(c, &buf, "artifact_id", pair->artifact);
	append_key(c, &buf, "user_id", pair->user);
	append_key(c, &buf, "version_id", s->version);
	appendStringInfo(&buf, ", \"state\": \"%s\", \"at\": ", pt_state_names[s->state]);
	escape_json(&buf, JsonEncodeDateTime(time, TimestampTzGetDatum(at), TIMESTAMPTZOID, NULL));
	appendStringInfoString(&buf, ", \"data\": ");
	if (s->data_null)
		appendStringInfoString(&buf, "null");
	else
		appendStringInfoString(&buf, JsonbToCString(NULL, &DatumGetJsonbP(s->data)->root,
													VARSIZE_ANY(DatumGetPointer(s->data))));
	/*
	 * PostgreSQL delivers equal notifications of one transaction once: a
	 * transaction that leaves, joins and leaves again must announce both
	 * leaves.  A counter of this session tells them apart.
	 */
	appendStringInfo(&buf, ", \"seq\": %llu}", (unsigned long long) ++events_sent);

	/*
	 * Never an error here: the sweeper, expire_sessions and purge announce
	 * other users' changes.  Data is limited to 1 kB of JSON text, but text
	 * keys of control characters can escape to more than NOTIFY takes.
	 */
	if (buf.len >= NOTIFY_MAX_PAYLOAD)
		ereport(WARNING,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("presence event of %d bytes not sent: NOTIFY takes less than %d",
						buf.len, (int) NOTIFY_MAX_PAYLOAD),
				 errdetail("%s", buf.data)));
	else
		Async_Notify(PT_NOTIFY_CHANNEL, buf.data);
	pfree(buf.data);
}

static bool
same_shown(Call *c, const Shown *a, const Shown *b)
{
	if (a->state != b->state || a->data_null != b->data_null ||
		ApplySortComparator(a->version, false, b->version, false, &c->keys) != 0)
		return false;
	return a->data_null || datum_image_eq(a->data, b->data, false, -1);
}

static void
announce_change(Call *c, const Pair *pair, const Shown *from, const Shown *to, TimestampTz at)
{
	if (from->present && !to->present)
		announce(c, "leave", pair, from, at);
	else if (!from->present && to->present)
		announce(c, "join", pair, to, at);
	else if (from->present && !same_shown(c, from, to))
		announce(c, "update", pair, to, at);
}

/* Whether a pair of the call is marked to be settled. */
static bool
any_to_settle(Call *c)
{
	for (int i = 0; i < c->npairs; i++)
		if (c->pairs[i].settle)
			return true;
	return false;
}

/*
 * Settles the pairs marked settle: reads their open sessions, ends the
 * expired ones, runs write (the call's own writes, or nothing), reads again
 * and announces the changes.
 */
static void
settle(Call *c, void (*write) (Call *c))
{
	if (!any_to_settle(c))
		return;
	read_open_sessions(c, true);
	for (int i = 0; i < c->npairs; i++)
		if (c->pairs[i].settle && c->pairs[i].expired)
		{
			if (c->delete_before != 0)
				delete_stale_sessions(c);
			end_expired_sessions(c);
			break;
		}
	if (write != NULL)
		write(c);
	read_open_sessions(c, false);
	for (int i = 0; i < c->npairs; i++)
	{
		Pair	   *pair = &c->pairs[i];

		if (!pair->settle)
			continue;
		announce_change(c, pair, &pair->before, &pair->live, pair->timed_out_at);
		announce_change(c, pair, &pair->live, &pair->after, c->at);
	}
}

/* The n beats of the arrays, a statement each (write_beat_sql). */
static void
write_beats_one_by_one(Call *c, int n, Datum *artifacts, Datum *users, Datum *sessions,
					   Datum *versions, Datum *states, Datum *data, bool *data_nulls)
{
	static PtPlan slot;
	Oid			argtypes[7] = {c->key_type, c->key_type, TEXTOID, c->key_type, TEXTOID, JSONBOID,
	TIMESTAMPTZOID};
	Datum		values[7];
	char		nulls[7];

	memset(nulls, ' ', sizeof(nulls));
	for (int i = 0; i < n; i++)
	{
		int			ret;

		values[0] = artifacts[i];
		values[1] = users[i];
		values[2] = sessions[i];
		values[3] = versions[i];
		values[4] = states[i];
		values[5] = data[i];
		nulls[5] = data_nulls[i] ? 'n' : ' ';
		values[6] = TimestampTzGetDatum(c->at);
		ret = SPI_execute_plan(plan(c, &slot, write_beat_sql, 7, argtypes), values, nulls, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "presence write failed: %s", SPI_result_code_string(ret));
	}
}

/* The beats of the settled pairs, through SQL. */
static void
write_settled_beats(Call *c)
{
	static PtPlan move_slots[2];
	static PtPlan write_slot;
	Oid			keys = key_array_type(c);
	Oid			argtypes[7] = {keys, keys, TEXTARRAYOID, keys, TEXTARRAYOID, JSONBARRAYOID, TIMESTAMPTZOID};
	Datum	   *artifacts = palloc(sizeof(Datum) * c->nbeats);
	Datum	   *users = palloc(sizeof(Datum) * c->nbeats);
	Datum	   *sessions = palloc(sizeof(Datum) * c->nbeats);
	Datum	   *versions = palloc(sizeof(Datum) * c->nbeats);
	Datum	   *states = palloc(sizeof(Datum) * c->nbeats);
	Datum	   *data = palloc(sizeof(Datum) * c->nbeats);
	bool	   *data_nulls = palloc(sizeof(bool) * c->nbeats);
	int			dims[1];
	int			lbs[1] = {1};
	Datum		values[7];
	int			n = 0;
	int			named = 0;
	int			ret;

	for (int i = 0; i < c->nbeats; i++)
	{
		Beat	   *b = &c->beats[i];

		if (!c->pairs[b->pair].settle)
			continue;
		artifacts[n] = b->artifact;
		users[n] = b->user;
		sessions[n] = b->session;
		versions[n] = b->version;
		states[n] = CStringGetTextDatum(pt_state_names[b->state]);
		data[n] = b->data;
		data_nulls[n] = b->data_null;
		n++;
	}
	/* pt_check_versions reorders the arrays it is given. */
	pt_check_versions(c->fcinfo, c->key_type, n,
					  memcpy(palloc(sizeof(Datum) * Max(n, 1)), versions, sizeof(Datum) * n),
					  memcpy(palloc(sizeof(Datum) * Max(n, 1)), artifacts, sizeof(Datum) * n));

	/* Named sessions first leave the versions they move from. */
	{
		Datum	   *na = palloc(sizeof(Datum) * Max(n, 1));
		Datum	   *nu = palloc(sizeof(Datum) * Max(n, 1));
		Datum	   *ns = palloc(sizeof(Datum) * Max(n, 1));
		Datum	   *nv = palloc(sizeof(Datum) * Max(n, 1));

		for (int i = 0; i < n; i++)
			if (is_named(sessions[i]))
			{
				na[named] = artifacts[i];
				nu[named] = users[i];
				ns[named] = sessions[i];
				nv[named++] = versions[i];
			}
		if (named > 0)
		{
			Oid			move_types[4] = {keys, keys, TEXTARRAYOID, keys};
			Datum		move_values[4] = {pt_key_array(c->key_type, named, na),
				pt_key_array(c->key_type, named, nu),
				PointerGetDatum(construct_array(ns, named, TEXTOID, -1, false, TYPALIGN_INT)),
			pt_key_array(c->key_type, named, nv)};

			ret = SPI_execute_plan(plan_for_pairs(c, move_slots, move_sessions_sql, 4, move_types),
								   move_values, NULL, false, 0);
			if (ret != SPI_OK_DELETE)
				elog(ERROR, "presence session move failed: %s", SPI_result_code_string(ret));
		}
	}

	dims[0] = n;
	values[0] = pt_key_array(c->key_type, n, artifacts);
	values[1] = pt_key_array(c->key_type, n, users);
	values[2] = PointerGetDatum(construct_array(sessions, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[3] = pt_key_array(c->key_type, n, versions);
	values[4] = PointerGetDatum(construct_array(states, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[5] = PointerGetDatum(construct_md_array(data, data_nulls, 1, dims, lbs, JSONBOID, -1,
												   false, TYPALIGN_INT));
	values[6] = TimestampTzGetDatum(c->at);
	if (c->in_citus)
	{
		write_beats_one_by_one(c, n, artifacts, users, sessions, versions, states, data, data_nulls);
		return;
	}
	ret = SPI_execute_plan(plan(c, &write_slot, write_beats_sql, 7, argtypes), values, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "presence write failed: %s", SPI_result_code_string(ret));
}

/* Writes a call's beats with the writer's rights (definer.c). */
static void
write_beats(void *arg)
{
	Call	   *c = arg;
	PtRows		t;
	Columns		col;

	if (pt_rows_open(&t, c->schema, "presence"))
	{
		/*
		 * Optimistic: every pair locked for plain beats, then each beat's
		 * row read under the locks, where only other plain beats can write
		 * it.  A pair with a beat that is not plain (a join, a change, a
		 * timeout) needs its exclusive lock: give back the locks of this
		 * call, which has written nothing yet, and lock again.
		 */
		find_columns(t.rel, &col);
		for (;;)
		{
			TakenLocks	taken = lock_pairs(c);

			if (classify(c, &t, &col))
				break;
			release_locks(&taken);
		}
		write_plain_beats(c, &t, &col);
		pt_rows_close(&t);
	}
	else
	{
		for (int i = 0; i < c->npairs; i++)
			c->pairs[i].settle = true;
		(void) lock_pairs(c);
	}
	/* Plain beats alone, the usual call, need no SQL. */
	if (!any_to_settle(c))
		return;
	pt_spi_connect();
	settle(c, write_settled_beats);
	pt_spi_finish();
}

/* A session id: NULL or up to PT_MAX_SESSION_BYTES bytes. */
static Datum
check_session(Datum session, bool isnull, const char *name)
{
	/* One '' for every beat without a session: a batch need not copy it. */
	static text *none = NULL;

	if (none == NULL)
	{
		none = MemoryContextAlloc(TopMemoryContext, VARHDRSZ);
		SET_VARSIZE(none, VARHDRSZ);
	}
	if (isnull)
		return PointerGetDatum(none);
	if (toast_raw_datum_size(session) - VARHDRSZ > PT_MAX_SESSION_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("%s is too long", name),
				 errdetail("The session id is %zu bytes; the limit is %d bytes.",
						   (size_t) (toast_raw_datum_size(session) - VARHDRSZ), PT_MAX_SESSION_BYTES),
				 errhint("Use a random id per tab, such as a UUID.")));
	return PointerGetDatum(PG_DETOAST_DATUM_PACKED(session));
}

static int
check_state(Datum state, bool isnull, const char *name)
{
	char	   *s;
	int			rank;

	if (isnull)
		return PT_STATE_VIEWING;
	s = TextDatumGetCString(state);
	rank = state_rank(s);
	if (rank >= 0)
		return rank;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s \"%s\" is not a presence state", name, s),
			 errhint("Use 'viewing', 'editing' or 'idle' (NULL means 'viewing').")));
	return 0;					/* not reached */
}

static Datum
check_data(Datum data, bool isnull, const char *name)
{
	Jsonb	   *jsonb;
	size_t		len;

	if (isnull)
		return (Datum) 0;
	jsonb = DatumGetJsonbP(data);
	/* What travels in events is the JSON text: '1e131071' is 22 bytes stored. */
	len = strlen(JsonbToCString(NULL, &jsonb->root, VARSIZE(jsonb)));
	if (len > PT_MAX_DATA_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s is too large", name),
				 errdetail("Its JSON text takes %zu bytes; the limit is %d bytes.", len, PT_MAX_DATA_BYTES),
				 errhint("Send a cursor or a selection, not the document: presence data travels in every event.")));
	return PointerGetDatum(jsonb);
}

/* An optional array argument: NULL, or n elements. */
static int
optional_array(FunctionCallInfo fcinfo, int argno, Oid type, int n, Datum **values, bool **nulls)
{
	ArrayType  *array;
	int			count;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	*values = NULL;
	*nulls = NULL;
	if (PG_ARGISNULL(argno))
		return 0;
	array = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be one-dimensional", pt_arg_name(fcinfo, argno))));
	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	deconstruct_array(array, type, typlen, typbyval, typalign, values, nulls, &count);
	if (count != n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must have as many elements as user_ids, or be NULL",
						pt_arg_name(fcinfo, argno)),
				 errhint("Element i of each array describes one beat.")));
	return count;
}

static void
fill_beat(Beat *b, Datum user, Datum artifact, Datum version, Datum session, bool session_null,
		  Datum state, bool state_null, Datum data, bool data_null)
{
	b->user = user;
	b->artifact = artifact;
	b->version = version;
	b->session = check_session(session, session_null, "session_id");
	b->state = check_state(state, state_null, "state");
	b->data = check_data(data, data_null, "data");
	b->data_null = data_null;
	b->plain = false;
}

Datum
presence_tracking_beat(PG_FUNCTION_ARGS)
{
	Oid			key_type = pt_key_type(fcinfo);
	Datum		values[4];
	Beat	   *beat = palloc(sizeof(Beat));
	Call		c;

	pt_writer_args(fcinfo, key_type, values);
	fill_beat(beat, values[0], values[1], values[2],
			  PG_GETARG_DATUM(4), PG_ARGISNULL(4), PG_GETARG_DATUM(5), PG_ARGISNULL(5),
			  PG_GETARG_DATUM(6), PG_ARGISNULL(6));
	call_init(&c, fcinfo, fcinfo->flinfo->fn_oid, pt_schema(fcinfo), key_type,
			  DatumGetTimestampTz(values[3]));
	call_set_beats(&c, beat, 1);
	pt_write_as_definer(fcinfo, write_beats, &c);
	PG_RETURN_BOOL(!c.pairs[0].live.present && c.pairs[0].after.present);
}

/* Indexes into c->pairs, by user, then artifact: the order of the joins returned. */
static int
compare_joins(const void *x, const void *y, void *arg)
{
	Call	   *c = arg;
	const Pair *a = &c->pairs[*(const int *) x];
	const Pair *b = &c->pairs[*(const int *) y];

	return compare_pair_keys(a->user, a->artifact, b->user, b->artifact, &c->keys);
}

Datum
presence_tracking_beat_many(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			key_type = get_element_type(pt_key_type(fcinfo));
	Datum	   *keys[3];
	Datum	   *sessions, *states, *data;
	bool	   *session_nulls, *state_nulls, *data_nulls;
	Beat	   *beats;
	int		   *joins;
	int			njoins = 0;
	int			n;
	Call		c;

	pt_check_writable(fcinfo);
	n = pt_check_beat_arrays(fcinfo, key_type, keys);
	optional_array(fcinfo, 4, TEXTOID, n, &sessions, &session_nulls);
	optional_array(fcinfo, 5, TEXTOID, n, &states, &state_nulls);
	optional_array(fcinfo, 6, JSONBOID, n, &data, &data_nulls);
	call_init(&c, fcinfo, fcinfo->flinfo->fn_oid, pt_schema(fcinfo), key_type,
			  pt_check_time(fcinfo, 3));
	beats = palloc(sizeof(Beat) * Max(n, 1));
	for (int i = 0; i < n; i++)
		fill_beat(&beats[i], keys[0][i], keys[1][i], keys[2][i],
				  sessions ? sessions[i] : 0, sessions ? session_nulls[i] : true,
				  states ? states[i] : 0, states ? state_nulls[i] : true,
				  data ? data[i] : 0, data ? data_nulls[i] : true);
	call_set_beats(&c, beats, n);
	InitMaterializedSRF(fcinfo, 0);

	pt_write_as_definer(fcinfo, write_beats, &c);
	joins = palloc(sizeof(int) * Max(c.npairs, 1));
	for (int i = 0; i < c.npairs; i++)
		if (!c.pairs[i].live.present && c.pairs[i].after.present)
			joins[njoins++] = i;
	qsort_arg(joins, njoins, sizeof(int), compare_joins, &c);
	for (int i = 0; i < njoins; i++)
	{
		const Pair *join = &c.pairs[joins[i]];
		Datum		row[3] = {join->user, join->artifact, join->after.version};
		bool		nulls[3] = {false, false, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, nulls);
	}
	return (Datum) 0;
}

static void
write_leave(Call *c)
{
	static PtPlan slot;
	Oid			argtypes[4] = {c->key_type, c->key_type, TEXTOID, TIMESTAMPTZOID};
	Datum		values[4] = {c->pairs[0].artifact, c->pairs[0].user, c->leave_session,
		TimestampTzGetDatum(c->at)};
	char		nulls[4] = {' ', ' ', c->leave_session == 0 ? 'n' : ' ', ' '};
	int			ret = SPI_execute_plan(plan(c, &slot, leave_sql, 4, argtypes), values, nulls,
									   false, 0);

	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "presence leave failed: %s", SPI_result_code_string(ret));
}

static void
leave_pair(void *arg)
{
	Call	   *c = arg;

	(void) lock_pairs(c);
	pt_spi_connect();
	settle(c, write_leave);
	pt_spi_finish();
}

Datum
presence_tracking_leave(PG_FUNCTION_ARGS)
{
	Oid			key_type = pt_key_type(fcinfo);
	Call		c;

	pt_check_writable(fcinfo);
	pt_check_key(fcinfo, 0, key_type);
	pt_check_key(fcinfo, 1, key_type);
	call_init(&c, fcinfo, fcinfo->flinfo->fn_oid, pt_schema(fcinfo), key_type,
			  GetCurrentTransactionStartTimestamp());
	if (!PG_ARGISNULL(2))
		c.leave_session = check_session(PG_GETARG_DATUM(2), false, "session_id");
	c.pairs = palloc0(sizeof(Pair));
	c.pairs[0].user = PG_GETARG_DATUM(0);
	c.pairs[0].artifact = PG_GETARG_DATUM(1);
	c.pairs[0].settle = true;
	c.npairs = 1;
	pt_write_as_definer(fcinfo, leave_pair, &c);
	PG_RETURN_BOOL(c.pairs[0].live.present && !c.pairs[0].after.present);
}

static void
write_forget(Call *c)
{
	static PtPlan slots[2];

	c->deleted += write_pairs(c, slots, forget_pairs_sql, 0, NULL, NULL, SPI_OK_DELETE, "erasure");
}

/*
 * forget_user()'s part in presence: the user leaves every artifact where
 * they have an open session (face piles hear it), and then every session of
 * theirs goes, the ended ones too.  All of it as the writers write, so that
 * on a Citus cluster no other role meets these shards in the transaction
 * (Citus refuses that).  Each pair is locked on its own, never a bucket,
 * so that heartbeats elsewhere do not wait for the erasure.  A session that
 * begins between the read of the user's artifacts and their locks goes
 * too, at the end, without a leave announced; one not yet committed then
 * survives: erasure is for users who are gone.
 */
static void
forget_as_definer(void *arg)
{
	Call	   *c = arg;
	static PtPlan read_slot;
	static PtPlan rest_slot;
	Oid			argtypes[1] = {c->key_type};
	Datum		user = c->fcinfo->args[0].value;
	int			ret;
	MemoryContext old;

	pt_spi_connect();
	ret = SPI_execute_plan(plan(c, &read_slot, user_artifacts_sql, 1, argtypes), &user, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "presence erasure failed: %s", SPI_result_code_string(ret));
	old = MemoryContextSwitchTo(c->cxt);
	c->npairs = (int) SPI_processed;
	c->pairs = palloc0(sizeof(Pair) * Max(c->npairs, 1));
	for (int i = 0; i < c->npairs; i++)
	{
		bool		isnull;

		c->pairs[i].artifact = datumCopy(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull),
										 c->key_byval, c->key_len);
		c->pairs[i].user = user;
		c->pairs[i].settle = true;
	}
	MemoryContextSwitchTo(old);
	pt_spi_finish();
	if (c->npairs > 0)
	{
		qsort_arg(c->pairs, c->npairs, sizeof(Pair), compare_pairs, &c->keys);
		c->few_pairs = c->npairs;
		(void) lock_pairs(c);
	}
	pt_spi_connect();
	settle(c, write_forget);
	ret = SPI_execute_plan(plan(c, &rest_slot, forget_user_sql, 1, argtypes), &user, NULL, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "presence erasure failed: %s", SPI_result_code_string(ret));
	c->deleted += SPI_processed;
	pt_spi_finish();
}

Datum
presence_tracking_forget_presence(PG_FUNCTION_ARGS)
{
	Oid			key_type = pt_key_type(fcinfo);
	Call		c;

	pt_check_writable(fcinfo);
	pt_check_key(fcinfo, 0, key_type);
	call_init(&c, fcinfo, fcinfo->flinfo->fn_oid, pt_schema(fcinfo), key_type,
			  GetCurrentTransactionStartTimestamp());
	pt_write_as_definer(fcinfo, forget_as_definer, &c);
	PG_RETURN_INT64((int64) c.deleted);
}

static Oid
presence_key_type(Oid schema)
{
	Oid			relid = get_relname_relid("presence", schema);

	return OidIsValid(relid) ? get_atttype(relid, get_attnum(relid, "user_id")) : InvalidOid;
}

/*
 * Up to limit pairs (artifact, user) with an open session whose last beat
 * is at or before seen_before (at most now - ttl: expired), copied into cxt.
 * The caller is connected to SPI.
 */
PtKeyPairs
pt_expired_pairs(Oid schema, Oid plan_owner, TimestampTz seen_before, int limit, MemoryContext cxt)
{
	static PtPlan slot;
	PtKeyPairs	pairs = {presence_key_type(schema), 0, NULL, NULL};
	Oid			argtypes[2] = {TIMESTAMPTZOID, INT4OID};
	Datum		values[2];
	int			ret;
	int16		typlen;
	bool		typbyval;
	MemoryContext old;

	if (!OidIsValid(pairs.key_type))
		return pairs;
	pt_check_settings();
	values[0] = TimestampTzGetDatum(seen_before);
	values[1] = Int32GetDatum(limit);
	/* Not read-only: a fresh snapshot, which sees the batches before. */
	ret = SPI_execute_plan(pt_plan_in(&slot, plan_owner, schema, expired_pairs_sql, 2, argtypes),
						   values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "presence timeout query failed: %s", SPI_result_code_string(ret));
	get_typlenbyval(pairs.key_type, &typlen, &typbyval);
	old = MemoryContextSwitchTo(cxt);
	pairs.n = (int) SPI_processed;
	pairs.artifacts = palloc(sizeof(Datum) * Max(pairs.n, 1));
	pairs.users = palloc(sizeof(Datum) * Max(pairs.n, 1));
	for (int i = 0; i < pairs.n; i++)
	{
		bool		isnull;

		pairs.artifacts[i] = datumCopy(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull),
									   typbyval, typlen);
		pairs.users[i] = datumCopy(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull),
								   typbyval, typlen);
	}
	MemoryContextSwitchTo(old);
	return pairs;
}

/*
 * Settles pairs [from, to) of the given ones at "now": ends their expired
 * sessions and announces the users who thereby left.  With pair_locks, each
 * pair is locked on its own (the background worker's small batches, which
 * then wait only for calls on the same pairs); otherwise a batch of more
 * than FEW_PAIRS pairs locks whole buckets, so that one transaction holds
 * a bounded number of locks.  Returns how many sessions ended.  The caller
 * is connected to SPI, with the writer's rights or as a superuser.  With
 * delete_before, the expired sessions seen before it are deleted instead,
 * and the count is of those.
 */
uint64
pt_settle_expired(Oid schema, Oid plan_owner, PtKeyPairs *pairs, int from, int to, bool pair_locks,
				  TimestampTz now, TimestampTz delete_before)
{
	Call		c;

	if (from >= to)
		return 0;
	call_init(&c, NULL, plan_owner, schema, pairs->key_type, now);
	c.delete_before = delete_before;
	if (pair_locks)
		c.few_pairs = to - from;
	c.npairs = to - from;
	c.pairs = palloc0(sizeof(Pair) * c.npairs);
	for (int i = 0; i < c.npairs; i++)
	{
		c.pairs[i].artifact = pairs->artifacts[from + i];
		c.pairs[i].user = pairs->users[from + i];
		c.pairs[i].settle = true;
	}
	qsort_arg(c.pairs, c.npairs, sizeof(Pair), compare_pairs, &c.keys);
	(void) lock_pairs(&c);
	settle(&c, NULL);
	return delete_before != 0 ? c.deleted : c.ended;
}

/*
 * Every session whose last beat is at least "age" seconds old (at least
 * the TTL) now, in one transaction: expire_sessions (the TTL) and purge
 * (the retention, with delete: the sessions it is about to delete go at
 * once, their users' leaves announced).  Returns how many sessions it
 * ended, or deleted.
 */
uint64
pt_expire_sessions(Oid schema, Oid plan_owner, int age, bool delete)
{
	uint64		ended = 0;
	/* purge() deletes by now() (its DELETE's clock); expire_sessions by the clock. */
	TimestampTz now = delete ? GetCurrentTransactionStartTimestamp() : GetCurrentTimestamp();
	TimestampTz before = pt_window_start(now, age);

	for (;;)
	{
		PtKeyPairs	pairs;

		CHECK_FOR_INTERRUPTS();
		pairs = pt_expired_pairs(schema, plan_owner, delete ? before - 1 : before, PT_EXPIRE_BATCH,
								 CurrentMemoryContext);
		ended += pt_settle_expired(schema, plan_owner, &pairs, 0, pairs.n, false, now,
								   delete ? before : 0);
		if (pairs.n < PT_EXPIRE_BATCH)
			break;
	}
	return ended;
}

typedef struct ExpireCall
{
	FunctionCallInfo fcinfo;
	uint64		ended;
} ExpireCall;

static void
expire_as_definer(void *arg)
{
	ExpireCall *e = arg;

	pt_spi_connect();
	pt_check_settings();
	e->ended = pt_expire_sessions(pt_schema(e->fcinfo), e->fcinfo->flinfo->fn_oid, pt_ttl, false);
	pt_spi_finish();
}

Datum
presence_tracking_expire_sessions(PG_FUNCTION_ARGS)
{
	ExpireCall	e = {fcinfo, 0};

	pt_check_writable(fcinfo);
	pt_write_as_definer(fcinfo, expire_as_definer, &e);
	PG_RETURN_INT64((int64) e.ended);
}
