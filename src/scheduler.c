/*
 * scheduler.c
 *      The pg_cron job that purges presence: schedule_purge(),
 *      unschedule_purge(), and the event trigger that removes the job when
 *      the extension is dropped.
 *
 * pg_cron is a soft dependency.  Where it is installed in this database the
 * job is scheduled there; where it lives in another database
 * (cron.database_name) the exact call to run there is given; without it the
 * purge can still be run by hand.
 */
#include "postgres.h"

#include "presence_tracking.h"
#include "compat.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "commands/event_trigger.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/guc.h"
#include "utils/rls.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(presence_tracking_schedule_purge);
PG_FUNCTION_INFO_V1(presence_tracking_unschedule_purge);
PG_FUNCTION_INFO_V1(presence_tracking_restoring_dump);
PG_FUNCTION_INFO_V1(presence_tracking_on_drop);

typedef enum CronPlace
{
	CRON_HERE,					/* pg_cron is installed in this database */
	CRON_ELSEWHERE,				/* pg_cron is loaded and serves another database */
	CRON_ABSENT					/* neither */
} CronPlace;

static CronPlace
cron_place(const char **cron_database)
{
	*cron_database = GetConfigOption("cron.database_name", true, false);
	if (OidIsValid(get_extension_oid("pg_cron", true)))
		return CRON_HERE;
	if (*cron_database != NULL && strcmp(*cron_database, get_database_name(MyDatabaseId)) != 0)
		return CRON_ELSEWHERE;
	return CRON_ABSENT;
}

/* The call a DBA runs in pg_cron's database to schedule the purge of this one. */
static char *
schedule_elsewhere_call(void)
{
	return psprintf("SELECT cron.schedule_in_database(%s, %s, %s, %s);",
					quote_literal_cstr(PT_PURGE_JOB_NAME),
					quote_literal_cstr(pt_cleanup_schedule),
					quote_literal_cstr(PT_PURGE_COMMAND),
					quote_literal_cstr(get_database_name(MyDatabaseId)));
}

/*
 * Report that the job cannot be scheduled from here.  While CREATE EXTENSION
 * runs this is a WARNING (the extension works without pg_cron); called by a
 * user it is an error.
 */
static void
report_not_scheduled(CronPlace place, const char *cron_database)
{
	/* Extension scripts run with client_min_messages at WARNING or above. */
	int			level = creating_extension ? WARNING : ERROR;

	if (place == CRON_ELSEWHERE)
		ereport(level,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("presence purge job not scheduled: pg_cron runs in database \"%s\"",
						cron_database),
				 errhint("Connect to database \"%s\" and run: %s",
						 cron_database, schedule_elsewhere_call())));
	else
		ereport(level,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("presence purge job not scheduled: pg_cron is not installed in this database"),
				 errhint("Run SELECT presence_tracking.purge() periodically, or install pg_cron and run SELECT presence_tracking.schedule_purge().")));
}

/*
 * Whether CREATE EXTENSION runs inside the restore of a dump.  Both pg_dump's
 * plain output and pg_restore turn row_security off in their session, which
 * an extension script leaves alone.  Off by ALTER DATABASE or ALTER ROLE (a
 * database owner's doing) is not a restore, or that owner could keep the job
 * from ever being scheduled.  A restore brings the job back with pg_cron's own
 * data; scheduling it here too would make that data clash with the new row
 * (same job name and user) and fail to load, losing every other job with it.
 */
static bool
restoring_dump(void)
{
	const char *reset_value;

	if (!creating_extension || row_security)
		return false;
	/* Off for this session only, as a restore sets it; not for the database or role. */
	reset_value = GetConfigOptionResetString("row_security");
	return reset_value != NULL && strcmp(reset_value, "on") == 0;
}

/*
 * For the install script (1.4): the ledger's first partitions are made at
 * install, except while a dump is restored, which brings its own.
 */
Datum
presence_tracking_restoring_dump(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(restoring_dump());
}

Datum
presence_tracking_schedule_purge(PG_FUNCTION_ARGS)
{
	const char *cron_database;
	CronPlace	place = cron_place(&cron_database);
	Datum		values[3];
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
	bool		isnull;
	int64		jobid;

	if (restoring_dump())
	{
		ereport(WARNING,
				(errmsg("presence purge job not scheduled while restoring a dump"),
				 errhint("pg_cron's restored data carries the job; if it is missing, run SELECT presence_tracking.schedule_purge().")));
		PG_RETURN_NULL();
	}
	if (place != CRON_HERE)
	{
		report_not_scheduled(place, cron_database);
		PG_RETURN_NULL();
	}

	values[0] = CStringGetTextDatum(PT_PURGE_JOB_NAME);
	values[1] = CStringGetTextDatum(pt_cleanup_schedule);
	values[2] = CStringGetTextDatum(PT_PURGE_COMMAND);
	pt_spi_connect();
	if (SPI_execute_with_args("SELECT cron.schedule($1, $2, $3)", 3, argtypes, values,
							  NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "cron.schedule failed");
	jobid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	pt_spi_finish();

	PG_RETURN_INT64(jobid);
}

/*
 * Remove this database's purge job from pg_cron when pg_cron is here.
 * Returns whether a job was removed.
 */
static bool
unschedule_here(void)
{
	Datum		values[1];
	Oid			argtypes[1] = {TEXTOID};
	uint64		removed;

	values[0] = CStringGetTextDatum(PT_PURGE_JOB_NAME);
	pt_spi_connect();
	if (SPI_execute_with_args("SELECT cron.unschedule(j.jobid) FROM cron.job j"
							  " WHERE j.jobname OPERATOR(pg_catalog.=) $1"
							  "   AND j.database OPERATOR(pg_catalog.=) pg_catalog.current_database()",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "cron.unschedule failed");
	removed = SPI_processed;
	pt_spi_finish();
	return removed > 0;
}

Datum
presence_tracking_unschedule_purge(PG_FUNCTION_ARGS)
{
	const char *cron_database;
	CronPlace	place = cron_place(&cron_database);

	if (place == CRON_HERE)
		PG_RETURN_BOOL(unschedule_here());
	if (place == CRON_ELSEWHERE)
		ereport(NOTICE,
				(errmsg("pg_cron runs in database \"%s\"; remove the job there", cron_database),
				 errhint("Connect to database \"%s\" and run: SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = %s AND database = %s;",
						 cron_database, quote_literal_cstr(PT_PURGE_JOB_NAME),
						 quote_literal_cstr(get_database_name(MyDatabaseId)))));
	PG_RETURN_BOOL(false);
}

static bool
names_contain(List *names, const char *name)
{
	ListCell   *lc;

	foreach(lc, names)
	{
		Node	   *node = lfirst(lc);

		if (IsA(node, String) && strcmp(strVal(node), name) == 0)
			return true;
	}
	return false;
}

/* The role that owns the extension. */
static Oid
extension_owner(Oid extension)
{
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			owner = InvalidOid;

	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extension));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}

/*
 * Whether DROP OWNED BY roles drops the extension: it names the owner of the
 * extension, or of its schema (dropping the schema drops what is in it).
 */
static bool
roles_contain_owner(List *roles, Oid extension, Oid schema)
{
	Oid			owner = extension_owner(extension);
	HeapTuple	tuple = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(schema));
	Oid			schema_owner = InvalidOid;
	ListCell   *lc;

	if (HeapTupleIsValid(tuple))
	{
		schema_owner = ((Form_pg_namespace) GETSTRUCT(tuple))->nspowner;
		ReleaseSysCache(tuple);
	}
	foreach(lc, roles)
	{
		Oid			role = get_rolespec_oid(lfirst(lc), true);

		if (role == owner || role == schema_owner)
			return true;
	}
	return false;
}

/*
 * Whether the statement drops the extension: DROP EXTENSION naming it, DROP
 * SCHEMA naming its schema, DROP OWNED BY its owner or its schema's.
 */
static bool
drops_extension(Node *parsetree, Oid extension, Oid schema)
{
	if (IsA(parsetree, DropOwnedStmt))
		return roles_contain_owner(((DropOwnedStmt *) parsetree)->roles, extension, schema);
	if (IsA(parsetree, DropStmt))
	{
		DropStmt   *stmt = (DropStmt *) parsetree;

		return (stmt->removeType == OBJECT_EXTENSION &&
				names_contain(stmt->objects, get_extension_name(extension))) ||
			(stmt->removeType == OBJECT_SCHEMA &&
			 names_contain(stmt->objects, get_namespace_name(schema)));
	}
	return false;
}

/*
 * On a Citus coordinator, the shards go first: Citus leaves those of tables
 * an extension owns when the extension is dropped (drop_shards(), 1.5).
 */
static void
drop_shards(Oid schema)
{
	int			ret;

	pt_spi_connect();
	ret = SPI_execute(psprintf("SELECT %s.drop_shards()", quote_identifier(get_namespace_name(schema))),
					  false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "drop_shards failed: %s", SPI_result_code_string(ret));
	pt_spi_finish();
}

/*
 * Event trigger on ddl_command_start for DROP EXTENSION, DROP SCHEMA and
 * DROP OWNED: when the command drops this extension, remove the job first,
 * in the same transaction, so a failed drop keeps it and a successful one
 * leaves none.  A role that does not own the extension cannot drop it: the
 * trigger leaves it to the command to say so, rather than failing first on
 * pg_cron's tables.
 */
Datum
presence_tracking_on_drop(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Oid			extension;
	const char *cron_database;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("presence_tracking.on_drop() must be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;

	extension = getExtensionOfObject(ProcedureRelationId, fcinfo->flinfo->fn_oid);
	if (!OidIsValid(extension) ||
		!drops_extension(trigdata->parsetree, extension, pt_schema(fcinfo)) ||
		!pt_extension_ownercheck(extension, GetUserId()))
		PG_RETURN_NULL();

	if (pt_citus_table(get_relname_relid("artifact_version_stats", pt_schema(fcinfo))) &&
		!pt_citus_worker_node())
		drop_shards(pt_schema(fcinfo));

	switch (cron_place(&cron_database))
	{
		case CRON_HERE:
			unschedule_here();
			break;
		case CRON_ELSEWHERE:
			ereport(NOTICE,
					(errmsg("remove the presence purge job in database \"%s\" if it was scheduled there",
							cron_database),
					 errhint("There run: SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = %s AND database = %s;",
							 quote_literal_cstr(PT_PURGE_JOB_NAME),
							 quote_literal_cstr(get_database_name(MyDatabaseId)))));
			break;
		case CRON_ABSENT:
			break;
	}
	PG_RETURN_NULL();
}
