/*
 * definer.c
 *      Whose rights the writers' writes run with: presence_tracking_definer.
 *
 * The writers are SECURITY INVOKER functions of the extension's owner.  Their
 * argument checks run as the caller; their writes run as
 * presence_tracking_definer, a role that owns nothing and may only write the
 * extension's tables.  A trigger someone adds to a table runs as the role
 * that writes it, so even hostile code that such a trigger reaches (through
 * an unqualified name a caller shadows in pg_temp) can do no more than that
 * role.  Had the role owned SECURITY DEFINER writers, such code could alter
 * or re-grant them.
 *
 * Whenever SQL runs below a writer (a statement, and any trigger it fires),
 * search_path is pinned to pg_catalog, pg_temp, pg_temp last; the in-place
 * path (rows.c) resolves no name and is left alone.  An error unwinds both
 * the role and the setting with the (sub)transaction.
 *
 * A database whose extension predates 1.2 has SECURITY DEFINER writers owned
 * by the installing superuser: they already run as that owner and are left
 * as they are, with a warning once per session to run the update.
 */
#include "postgres.h"

#include "presence_tracking.h"

#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/syscache.h"

#define PT_DEFINER_ROLE "presence_tracking_definer"

/* The writer being run, innermost first (a trigger may call a writer). */
typedef struct PtDefiner
{
	Oid			saved_user;
	int			saved_context;
	int			guc_level;		/* of the pinned search_path, or -1 */
	bool		switched;
	struct PtDefiner *outer;
} PtDefiner;

static PtDefiner *current_writer = NULL;

static bool
is_security_definer(Oid fn_oid)
{
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn_oid));
	bool		secdef;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for function %u", fn_oid);
	secdef = ((Form_pg_proc) GETSTRUCT(tuple))->prosecdef;
	ReleaseSysCache(tuple);
	return secdef;
}

static void
begin(FunctionCallInfo fcinfo, PtDefiner *d)
{
	static bool warned = false;

	d->guc_level = -1;
	d->switched = false;
	d->outer = current_writer;
	GetUserIdAndSecContext(&d->saved_user, &d->saved_context);
	if (is_security_definer(fcinfo->flinfo->fn_oid))
	{
		if (!warned)
			ereport(WARNING,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("presence_tracking in this database predates release 1.2 and its security fixes"),
					 errhint("A superuser runs: ALTER EXTENSION presence_tracking UPDATE (or presence_tracking_uuid, presence_tracking_text).")));
		warned = true;
	}
	else
	{
		Oid			definer = get_role_oid(PT_DEFINER_ROLE, true);

		if (!OidIsValid(definer))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("role \"%s\" does not exist", PT_DEFINER_ROLE),
					 errhint("The writers run their writes as this role; ALTER EXTENSION ... UPDATE or CREATE EXTENSION creates it.")));
		SetUserIdAndSecContext(definer, d->saved_context | SECURITY_LOCAL_USERID_CHANGE);
		d->switched = true;
	}
	current_writer = d;
}

static void
end(PtDefiner *d)
{
	if (d->guc_level >= 0)
		AtEOXact_GUC(true, d->guc_level);
	if (d->switched)
		SetUserIdAndSecContext(d->saved_user, d->saved_context);
	current_writer = d->outer;
}

/*
 * Runs write(arg) with the writer's rights.  On an error the transaction's
 * abort restores the role and the setting; only the bookkeeping is undone
 * here.
 */
void
pt_write_as_definer(FunctionCallInfo fcinfo, void (*write) (void *arg), void *arg)
{
	PtDefiner	d;

	begin(fcinfo, &d);
	PG_TRY();
	{
		write(arg);
	}
	PG_CATCH();
	{
		current_writer = d.outer;
		PG_RE_THROW();
	}
	PG_END_TRY();
	end(&d);
}

/*
 * Before SQL runs below a writer: search_path = pg_catalog, pg_temp, until
 * the writer returns.  A no-op elsewhere, and after the first time.
 */
void
pt_pin_search_path(void)
{
	if (current_writer == NULL || !current_writer->switched || current_writer->guc_level >= 0)
		return;
	current_writer->guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}
