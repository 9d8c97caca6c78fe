/*
 * presence_tracking.h
 *      Declarations shared by the presence_tracking source files.
 *
 * One shared library serves the three extensions built from this source
 * (presence_tracking, presence_tracking_uuid, presence_tracking_text).  The
 * key type is never hard-coded here: it is read from the catalog entry of
 * the SQL function being called.
 */
#ifndef PRESENCE_TRACKING_H
#define PRESENCE_TRACKING_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "access/genam.h"
#include "access/skey.h"
#include "nodes/execnodes.h"
#include "utils/timestamp.h"

/*
 * Name the extension's schema has when created, used only where a name is
 * all there is (the pg_cron command).  The C code finds the schema through
 * the called function instead (pt_schema), so renaming or squatting the name
 * cannot redirect a write.
 */
#define PT_SCHEMA "presence_tracking"

/* In SQL text given to pt_plan: replaced by the quoted name of the schema. */
#define PT_SCHEMA_TOKEN "@extschema@"

/* Longest text key accepted, in bytes: keeps every key well inside a btree page. */
#define PT_MAX_TEXT_KEY_BYTES 512

/* Longest session id and largest presence data accepted, in bytes. */
#define PT_MAX_SESSION_BYTES 128
#define PT_MAX_DATA_BYTES 1024

/* The channel of presence events (NOTIFY); their payload is JSON. */
#define PT_NOTIFY_CHANNEL "presence_tracking"

/*
 * Pairs (artifact, user) the timeout sweep reads per query (in one
 * transaction; the background worker: per round) and the worker settles per
 * transaction.  Each read is a sequential scan of the presence table.
 */
#define PT_EXPIRE_BATCH 1000
#define PT_SWEEP_READ 10000
#define PT_SWEEP_BATCH 256

/* How far ahead of the server clock a client-supplied time may be. */
#define PT_MAX_CLOCK_SKEW_SECS 60

/* settings.c: the presence_tracking.* GUCs, all in seconds. */
extern int	pt_heartbeat_interval;
extern int	pt_ttl;
extern int	pt_retention;
extern int	pt_view_debounce;
extern int	pt_max_backdate;
extern bool pt_force_sql_path;
extern bool pt_notify;
extern char *pt_cleanup_schedule;
extern char *pt_engagement_timezone;
extern int	pt_ledger_retention;

extern void pt_define_settings(void);
extern void pt_check_settings(void);
extern bool pt_cron_schedule_is_valid(const char *schedule, const char **why);

/* args.c: argument checks shared by every writer. */
extern Oid	pt_key_type(FunctionCallInfo fcinfo);
extern Oid	pt_schema(FunctionCallInfo fcinfo);
extern void pt_check_writable(FunctionCallInfo fcinfo);
extern const char *pt_arg_name(FunctionCallInfo fcinfo, int argno);
extern void pt_check_key(FunctionCallInfo fcinfo, int argno, Oid key_type);
extern int	pt_check_key_array(FunctionCallInfo fcinfo, int argno, Oid key_type,
							   Datum **keys_out);
extern int	pt_check_beat_arrays(FunctionCallInfo fcinfo, Oid key_type, Datum **keys);
extern TimestampTz pt_check_time(FunctionCallInfo fcinfo, int argno);
extern void pt_writer_args(FunctionCallInfo fcinfo, Oid key_type, Datum *values);
extern Datum pt_key_array(Oid key_type, int n, Datum *keys);
extern Interval *pt_seconds_interval(int seconds);
extern TimestampTz pt_window_start(TimestampTz at, int seconds);

/* definer.c: the writers' writes run as presence_tracking_definer. */
extern void pt_write_as_definer(FunctionCallInfo fcinfo, void (*write) (void *arg), void *arg);
extern void pt_pin_search_path(void);

/* citus.c: tables in Citus's shards, and worker nodes (issue 14). */
extern bool pt_citus_table(Oid relid);
extern bool pt_citus_worker_node(void);

/* plans.c: saved SPI plans, one per SQL function. */
typedef struct PtPlan
{
	Oid			fn_oid;			/* SQL function (or schema) the plan was prepared for */
	char	   *schema_name;	/* name the schema had then */
	SPIPlanPtr	plan;
} PtPlan;

extern SPIPlanPtr pt_plan(PtPlan *slot, FunctionCallInfo fcinfo, const char *sql,
						  int nargs, Oid *argtypes);
extern SPIPlanPtr pt_plan_in(PtPlan *slot, Oid owner, Oid schema, const char *sql,
							 int nargs, Oid *argtypes);
extern void pt_spi_connect(void);
extern void pt_spi_finish(void);

/* rows.c: one row of an extension table, by primary key, written in place. */
typedef struct PtRows
{
	Relation	rel;
	Relation	pkey;			/* its primary key index */
	EState	   *estate;
	ResultRelInfo *result;
	TupleTableSlot *old;		/* the row as found */
	TupleTableSlot *row;		/* the key looked for, then the values to write */
	IndexScanDesc scan;			/* of pkey, for every probe */
	SnapshotData dirty;
	ScanKeyData keys[INDEX_MAX_KEYS];
	int			nkeys;
} PtRows;

extern bool pt_rows_open(PtRows *t, Oid schema, const char *relname);
extern void pt_rows_set(PtRows *t, int column, Datum value);
extern Datum pt_rows_get(PtRows *t, int column);
extern void pt_rows_increment(PtRows *t, int column);
extern bool pt_rows_probe(PtRows *t);
extern bool pt_rows_lock_probed(PtRows *t);
extern bool pt_rows_lock_at(PtRows *t, ItemPointer tid);
extern bool pt_rows_lock(PtRows *t);
extern int	pt_column_index(Relation rel, const char *name);
extern void pt_key_scankey(Relation index, int k, ScanKey key);
extern void pt_rows_update(PtRows *t);
extern void pt_rows_close(PtRows *t);

/* versions.c: a version belongs to one artifact. */
extern void pt_check_versions(FunctionCallInfo fcinfo, Oid key_type, int n,
							  Datum *versions, Datum *artifacts);
extern void pt_check_stored_artifact(Oid key_type, Datum version, Datum stored_artifact,
									 Datum artifact);

/* sessions.c: live presence. */
typedef struct PtKeyPairs
{
	Oid			key_type;
	int			n;
	Datum	   *artifacts;
	Datum	   *users;
} PtKeyPairs;

extern PtKeyPairs pt_expired_pairs(Oid schema, Oid plan_owner, TimestampTz seen_before, int limit,
								   MemoryContext cxt);
extern uint64 pt_settle_expired(Oid schema, Oid plan_owner, PtKeyPairs *pairs, int from, int to,
								bool pair_locks, TimestampTz now, TimestampTz delete_before);
extern uint64 pt_expire_sessions(Oid schema, Oid plan_owner, int age, bool delete);

/* worker.c: timeouts announced by background workers when preloaded. */
extern void pt_register_launcher(void);

/* scheduler.c */
#define PT_PURGE_JOB_NAME "presence_tracking_purge"
/*
 * The job's command.  pg_cron runs it as a superuser, so it must not find
 * purge() by a schema name that someone could rename and then squat: it
 * takes the schema from the extension's catalog entry.  Where the extension
 * is gone (dropped in a way the event trigger did not see), the job removes
 * itself when pg_cron is in this database (then schema cron is pg_cron's),
 * and otherwise says so.  The 1.2
 * update script carries a copy for the jobs of older releases; a test
 * compares the two.
 */
#define PT_PURGE_COMMAND \
	"DO $purge$ DECLARE s name; BEGIN" \
	" SELECT n.nspname INTO s FROM pg_catalog.pg_extension e" \
	" JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace" \
	" WHERE e.extname OPERATOR(pg_catalog.~~) 'presence\\_tracking%';" \
	" IF s IS NOT NULL THEN EXECUTE pg_catalog.format('SELECT %I.purge()', s);" \
	" ELSIF EXISTS (SELECT FROM pg_catalog.pg_extension x WHERE x.extname OPERATOR(pg_catalog.=) 'pg_cron') THEN" \
	" PERFORM cron.unschedule(j.jobid) FROM cron.job j" \
	" WHERE j.jobname OPERATOR(pg_catalog.=) 'presence_tracking_purge'" \
	" AND j.database OPERATOR(pg_catalog.=) pg_catalog.current_database();" \
	" ELSE RAISE WARNING 'presence_tracking is not installed in database %: remove job presence_tracking_purge', pg_catalog.current_database();" \
	" END IF; END $purge$"

#endif							/* PRESENCE_TRACKING_H */
