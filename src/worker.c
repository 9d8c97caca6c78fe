/*
 * worker.c
 *      Timeouts announced promptly: background workers that end the
 *      sessions whose TTL has passed, in every database with the extension.
 *
 * With the library in shared_preload_libraries, a launcher (connected to
 * no database, like pg_cron's) lists the databases and starts a sweeper in
 * each, about once a second.  A sweeper looks for the extension; where it
 * is not installed (or predates 1.3) it exits at once, and the launcher
 * tries that database again WORKER_RECHECK_SECS later.  Where it is, the
 * sweeper ends the timed-out sessions, a small batch of pairs per
 * transaction with a lock per pair, so that a burst of timeouts commits in
 * pieces and a heartbeat waits only when the sweep settles its own pair
 * (sweep_round); then it naps and exits, and the launcher starts the next.
 * So a session is announced gone within about a second of its TTL, and no
 * sweeper stays connected: DROP DATABASE, which waits a few seconds for
 * other sessions to leave, and CREATE DATABASE ... TEMPLATE work as usual.
 * The launcher tells the two cases apart by how long the sweeper ran
 * (SWEEPER_MIN_MS): it needs no shared memory of its own.
 *
 * The sweep reads the presence table sequentially: it has no index on
 * last_seen_at, on purpose (heartbeats stay HOT updates), so each sweep
 * costs a scan of the table (bench: presence rows x sweeps per second).
 * A sweeper writes as presence_tracking_definer, like the writers.
 */
#include "postgres.h"

#include "presence_tracking.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_database.h"
#include "catalog/pg_extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#define WORKER_NAP_MS 1000
#define SWEEPER_MIN_MS 500
#define WORKER_RECHECK_SECS 10
#define LAUNCHER_NAP_MS 250
#define MAX_DATABASES 256

PGDLLEXPORT void pt_launcher_main(Datum arg);
PGDLLEXPORT void pt_sweeper_main(Datum arg);

/* Registers the launcher; called from _PG_init while preloading. */
void
pt_register_launcher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "presence_tracking");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pt_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "presence_tracking launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "presence_tracking launcher");
	RegisterBackgroundWorker(&worker);
}

typedef struct Sweeper
{
	Oid			database;
	BackgroundWorkerHandle *handle;
	TimestampTz started_at;
	bool		has_extension;	/* the last sweeper here ran a full round */
	bool		listed;			/* the database is still there */
	bool		warned;			/* said that no worker slot was free */
} Sweeper;

static Sweeper sweepers[MAX_DATABASES];
static int	nsweepers = 0;

static Sweeper *
sweeper_of(Oid database)
{
	for (int i = 0; i < nsweepers; i++)
		if (sweepers[i].database == database)
			return &sweepers[i];
	if (nsweepers == MAX_DATABASES)
		return NULL;			/* the rest wait until databases are dropped */
	sweepers[nsweepers].database = database;
	sweepers[nsweepers].handle = NULL;
	sweepers[nsweepers].started_at = 0;
	sweepers[nsweepers].has_extension = false;
	sweepers[nsweepers].warned = false;
	return &sweepers[nsweepers++];
}

static void
start_sweeper(Sweeper *s)
{
	BackgroundWorker worker;
	pid_t		pid;
	MemoryContext old;
	bool		registered;

	if (s->handle != NULL)
	{
		if (GetBackgroundWorkerPid(s->handle, &pid) != BGWH_STOPPED)
			return;
		/* It stopped: a sweeper that found the extension ran a full round. */
		s->has_extension = TimestampDifferenceExceeds(s->started_at, GetCurrentTimestamp(),
													  SWEEPER_MIN_MS);
		pfree(s->handle);
		s->handle = NULL;
	}
	if (!TimestampDifferenceExceeds(s->started_at, GetCurrentTimestamp(),
									s->has_extension ? WORKER_NAP_MS : WORKER_RECHECK_SECS * 1000))
		return;
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "presence_tracking");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pt_sweeper_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "presence_tracking sweeper %u", s->database);
	snprintf(worker.bgw_type, BGW_MAXLEN, "presence_tracking sweeper");
	worker.bgw_main_arg = ObjectIdGetDatum(s->database);
	worker.bgw_notify_pid = MyProcPid;
	s->started_at = GetCurrentTimestamp();
	/* The handle outlives the transaction that lists the databases. */
	old = MemoryContextSwitchTo(TopMemoryContext);
	registered = RegisterDynamicBackgroundWorker(&worker, &s->handle);
	MemoryContextSwitchTo(old);
	if (!registered)
	{
		/* No free worker slot now: max_worker_processes; try again later. */
		s->handle = NULL;
		if (!s->warned)
			ereport(LOG,
					(errmsg("presence_tracking: no background worker slot for database %u", s->database),
					 errhint("Raise max_worker_processes: the extension runs a sweeper in each database that has it, about once a second.")));
		s->warned = true;
	}
	else
		s->warned = false;
}

/* Starts a sweeper in every database that accepts connections. */
static void
start_sweepers(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	for (int i = 0; i < nsweepers; i++)
		sweepers[i].listed = false;
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tuple);
		Sweeper    *s;

		if (!db->datallowconn || db->datistemplate)
			continue;
#ifdef DATCONNLIMIT_INVALID_DB
		/* A database whose DROP was interrupted: nobody may connect. */
		if (db->datconnlimit == DATCONNLIMIT_INVALID_DB)
			continue;
#endif
		s = sweeper_of(db->oid);
		if (s != NULL)
		{
			s->listed = true;
			start_sweeper(s);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);

	/* Forget dropped databases (their sweepers are gone with them). */
	for (int i = 0; i < nsweepers;)
	{
		pid_t		pid;

		if (!sweepers[i].listed &&
			(sweepers[i].handle == NULL || GetBackgroundWorkerPid(sweepers[i].handle, &pid) == BGWH_STOPPED))
		{
			if (sweepers[i].handle != NULL)
				pfree(sweepers[i].handle);
			sweepers[i] = sweepers[--nsweepers];
		}
		else
			i++;
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
}

void
pt_launcher_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("presence_tracking launcher");

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		start_sweepers();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 LAUNCHER_NAP_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * The schema of the extension in this database, or InvalidOid when it is
 * not installed, predates sessions (1.3) or is on a Citus worker node.
 */
static Oid
extension_schema(void)
{
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	HeapTuple	tuple;
	Oid			schema = InvalidOid;

	while ((tuple = systable_getnext(scan)) != NULL)
	{
		Form_pg_extension ext = (Form_pg_extension) GETSTRUCT(tuple);

		if (strncmp(NameStr(ext->extname), "presence_tracking", strlen("presence_tracking")) == 0)
			schema = ext->extnamespace;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (OidIsValid(schema))
	{
		Oid			relid = get_relname_relid("presence", schema);

		if (!OidIsValid(relid) || get_attnum(relid, "ended_at") == InvalidAttrNumber)
			schema = InvalidOid;
	}
	/* A cluster's sessions are swept once, by its coordinator (citus.c). */
	if (OidIsValid(schema) && pt_citus_worker_node())
		schema = InvalidOid;
	return schema;
}

/*
 * Starts a transaction as presence_tracking_definer, connected to SPI, and
 * returns the extension's schema; exits when the extension is not here
 * (the launcher looks again later).
 */
static Oid
begin_as_definer(Oid *saved_user, int *saved_context)
{
	Oid			schema;
	Oid			definer;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	schema = extension_schema();
	definer = get_role_oid("presence_tracking_definer", true);
	if (!OidIsValid(schema) || !OidIsValid(definer))
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
		proc_exit(0);
	}
	GetUserIdAndSecContext(saved_user, saved_context);
	SetUserIdAndSecContext(definer, *saved_context | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	return schema;
}

static void
commit_as_definer(Oid saved_user, int saved_context)
{
	SPI_finish();
	SetUserIdAndSecContext(saved_user, saved_context);
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * One round: reads up to PT_SWEEP_READ pairs with expired sessions, then
 * settles them PT_SWEEP_BATCH at a time, each batch in its own transaction
 * with a lock per pair, so that heartbeats on other pairs never wait for
 * the sweep.  Returns whether there may be more.
 */
static bool
sweep_round(MemoryContext round)
{
	Oid			saved_user;
	int			saved_context;
	Oid			schema;
	PtKeyPairs	pairs;

	pgstat_report_activity(STATE_RUNNING, "presence_tracking: ending timed-out sessions");
	schema = begin_as_definer(&saved_user, &saved_context);
	pt_check_settings();
	pairs = pt_expired_pairs(schema, schema, pt_window_start(GetCurrentTimestamp(), pt_ttl),
							 PT_SWEEP_READ, round);
	commit_as_definer(saved_user, saved_context);
	for (int from = 0; from < pairs.n; from += PT_SWEEP_BATCH)
	{
		CHECK_FOR_INTERRUPTS();
		schema = begin_as_definer(&saved_user, &saved_context);
		(void) pt_settle_expired(schema, schema, &pairs, from, Min(from + PT_SWEEP_BATCH, pairs.n),
								 true, GetCurrentTimestamp(), 0);
		commit_as_definer(saved_user, saved_context);
	}
	pgstat_report_activity(STATE_IDLE, NULL);
	pgstat_report_stat(false);
	MemoryContextReset(round);
	return pairs.n == PT_SWEEP_READ;
}

void
pt_sweeper_main(Datum arg)
{
	TimestampTz started = GetCurrentTimestamp();
	MemoryContext round;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(arg), InvalidOid, 0);
	pgstat_report_appname("presence_tracking sweeper");
	/* Only the catalog's own names: no user object can stand in for them. */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	round = AllocSetContextCreate(TopMemoryContext, "presence_tracking sweep", ALLOCSET_DEFAULT_SIZES);

	while (sweep_round(round))
		CHECK_FOR_INTERRUPTS();

	/*
	 * Live at least SWEEPER_MIN_MS in all: that tells the launcher that the
	 * extension is here (see above).  A latch set early must not cut it.
	 */
	while (!TimestampDifferenceExceeds(started, GetCurrentTimestamp(), SWEEPER_MIN_MS))
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 SWEEPER_MIN_MS / 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	proc_exit(0);
}
