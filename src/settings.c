/*
 * settings.c
 *      The presence_tracking.* configuration parameters.
 *
 * All are PGC_SUSET: an application role must not be able to, say, shrink
 * the view debounce and inflate its own counts.  The durations carry units,
 * so '90s', '2min' and '1h' all work.
 *
 * The rules that tie the durations together (ttl above heartbeat_interval,
 * retention not below ttl) live in one function, settings_rule_broken().  A
 * SET in a session is checked against the values in force and refused when
 * it breaks a rule.  Values from files and ALTER SYSTEM/DATABASE/ROLE are
 * checked one by one only: they arrive in no useful order (ALTER SYSTEM SET
 * heartbeat_interval = '1s' does not change the session's value, so a
 * following ALTER SYSTEM SET ttl = '3s' would be judged against 60 s).  For
 * those, pt_check_settings() checks the combination before each use and
 * refuses to run with an error naming the rule.
 */
#include "postgres.h"

#include "presence_tracking.h"

#include <ctype.h>
#include <dlfcn.h>
#include <limits.h>

#include "pgtime.h"
#include "miscadmin.h"
#include "utils/guc.h"

int			pt_heartbeat_interval = 60;
int			pt_ttl = 150;
int			pt_retention = 600;
int			pt_view_debounce = 3600;
int			pt_max_backdate = 300;
bool		pt_force_sql_path = false;
bool		pt_notify = true;
char	   *pt_cleanup_schedule = NULL;
char	   *pt_engagement_timezone = NULL;
int			pt_ledger_retention = 0;

/* Cross-checks start once every duration is defined (see pt_define_settings). */
static bool settings_defined = false;

/* Whether a value from this source is checked against the other settings. */
static bool
cross_checked(GucSource source)
{
	return settings_defined && source >= PGC_S_INTERACTIVE && source != PGC_S_TEST;
}

/*
 * The rule that a combination of durations breaks, or NULL when it is sound.
 */
static const char *
settings_rule_broken(int heartbeat_interval, int ttl, int retention)
{
	if (ttl <= heartbeat_interval)
		return "presence_tracking.ttl must be greater than presence_tracking.heartbeat_interval";
	if (retention < ttl)
		return "presence_tracking.retention must not be less than presence_tracking.ttl";
	return NULL;
}

static bool
report_rule(const char *rule, int heartbeat_interval, int ttl, int retention)
{
	if (rule == NULL)
		return true;
	GUC_check_errmsg("%s", rule);
	GUC_check_errdetail("The result would be heartbeat_interval = %d s, ttl = %d s, retention = %d s.",
						heartbeat_interval, ttl, retention);
	GUC_check_errhint("Change the settings in an order that keeps heartbeat_interval < ttl <= retention at every step.");
	return false;
}

static bool
check_heartbeat_interval(int *newval, void **extra, GucSource source)
{
	if (!cross_checked(source))
		return true;
	return report_rule(settings_rule_broken(*newval, pt_ttl, pt_retention),
					   *newval, pt_ttl, pt_retention);
}

static bool
check_ttl(int *newval, void **extra, GucSource source)
{
	if (!cross_checked(source))
		return true;
	return report_rule(settings_rule_broken(pt_heartbeat_interval, *newval, pt_retention),
					   pt_heartbeat_interval, *newval, pt_retention);
}

static bool
check_retention(int *newval, void **extra, GucSource source)
{
	if (!cross_checked(source))
		return true;
	return report_rule(settings_rule_broken(pt_heartbeat_interval, pt_ttl, *newval),
					   pt_heartbeat_interval, pt_ttl, *newval);
}

/*
 * pg_cron's own parser, when pg_cron is loaded in this process (preloaded,
 * as it must be to run jobs): its exported parse_cron_entry(), looked up in
 * pg_cron's library itself.  The schedule is then
 * accepted exactly when the installed pg_cron would accept it; a copy of its
 * grammar (our own parser below) only stands in when pg_cron is not loaded.
 */
typedef void *(*parse_cron_entry_fn) (char *schedule);
typedef void (*free_entry_fn) (void *entry);

static bool
cron_parser_accepts(const char *schedule, bool *available)
{
	/* pg_cron's own library, only if already loaded (RTLD_NOLOAD). */
	void	   *pg_cron = dlopen(psprintf("%s/pg_cron%s", pkglib_path, DLSUFFIX), RTLD_NOW | RTLD_NOLOAD);
	parse_cron_entry_fn parse = NULL;
	free_entry_fn free_entry = NULL;
	void	   *entry;

	if (pg_cron != NULL)
	{
		parse = (parse_cron_entry_fn) dlsym(pg_cron, "parse_cron_entry");
		free_entry = (free_entry_fn) dlsym(pg_cron, "free_entry");
		dlclose(pg_cron);		/* drops only the reference NOLOAD took */
	}
	*available = parse != NULL && free_entry != NULL;
	if (!*available)
		return false;
	entry = parse(pstrdup(schedule));
	if (entry == NULL)
		return false;
	free_entry(entry);
	return true;
}

static bool
check_cleanup_schedule(char **newval, void **extra, GucSource source)
{
	const char *why = NULL;
	bool		pg_cron_loaded;

	if (*newval != NULL && cron_parser_accepts(*newval, &pg_cron_loaded))
		return true;
	/* Our parser's reason when it has one; the verdict is pg_cron's. */
	if (*newval != NULL && pt_cron_schedule_is_valid(*newval, &why))
	{
		if (!pg_cron_loaded)
			return true;
		why = "The installed pg_cron does not accept it.";
	}
	GUC_check_errmsg("invalid cron schedule \"%s\" for presence_tracking.cleanup_schedule",
					 *newval ? *newval : "");
	GUC_check_errdetail("%s", why ? why : "The schedule is empty.");
	GUC_check_errhint("Use five fields (minute hour day-of-month month day-of-week), for example '0 * * * *', or a macro such as '@hourly'.");
	return false;
}

/*
 * Raise an error when the durations in force break a rule.  Called by every
 * function that uses them; costs two comparisons.
 */
void
pt_check_settings(void)
{
	const char *rule = settings_rule_broken(pt_heartbeat_interval, pt_ttl, pt_retention);

	if (rule != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("presence_tracking settings are inconsistent: %s", rule),
				 errdetail("heartbeat_interval = %d s, ttl = %d s, retention = %d s.",
						   pt_heartbeat_interval, pt_ttl, pt_retention),
				 errhint("Ask a superuser to fix the settings where they are set: postgresql.conf, ALTER SYSTEM, ALTER DATABASE ... SET or ALTER ROLE ... SET (SHOW and pg_settings.source tell which).")));
}

/* A time zone PostgreSQL knows by name (pg_tzset), as SET TIME ZONE takes it. */
static bool
check_engagement_timezone(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || **newval == '\0' || pg_tzset(*newval) == NULL)
	{
		GUC_check_errdetail("\"%s\" is not a time zone name PostgreSQL knows.", *newval ? *newval : "");
		GUC_check_errhint("Use a name from pg_timezone_names, such as UTC or Europe/Paris.");
		return false;
	}
	return true;
}

void
pt_define_settings(void)
{
	DefineCustomIntVariable("presence_tracking.heartbeat_interval",
							"How often clients are expected to send a heartbeat per open tab.",
							"Informs the TTL rule: presence_tracking.ttl must be greater than this.",
							&pt_heartbeat_interval, 60, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							check_heartbeat_interval, NULL, NULL);
	DefineCustomIntVariable("presence_tracking.ttl",
							"How long after its last heartbeat a user still counts as present.",
							"A user whose last beat is exactly this old is no longer present.",
							&pt_ttl, 150, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							check_ttl, NULL, NULL);
	DefineCustomIntVariable("presence_tracking.retention",
							"Age at which presence rows are deleted by presence_tracking.purge().",
							"Rows with last_seen_at older than now() minus this are purged.",
							&pt_retention, 600, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							check_retention, NULL, NULL);
	DefineCustomIntVariable("presence_tracking.view_debounce",
							"Inactivity after which record_view() counts a new viewing session.",
							"Rolling window: a view at least this long after the previous one of the same user and version opens a new session.",
							&pt_view_debounce, 3600, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("presence_tracking.max_backdate",
							"How far behind the server clock a writer's \"at\" may lie.",
							"Older times are refused, so that a writer cannot open sessions in the past; -1 accepts any time (imports, as a superuser).",
							&pt_max_backdate, 300, -1, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("presence_tracking.force_sql_path",
							 "Developer setting: the writers write every row through SQL statements, never in place.",
							 "The tests run with it on and off to prove that both write paths give the same results.",
							 &pt_force_sql_path, false,
							 PGC_SUSET, GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("presence_tracking.notify",
							 "Whether presence changes are announced with NOTIFY on channel presence_tracking.",
							 "Joins, leaves and updates of what a face pile shows, at commit; a plain heartbeat announces nothing.",
							 &pt_notify, true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("presence_tracking.cleanup_schedule",
							   "pg_cron schedule of the presence purge job.",
							   "Takes effect when presence_tracking.schedule_purge() is next run.",
							   &pt_cleanup_schedule, "0 * * * *",
							   PGC_SUSET, 0,
							   check_cleanup_schedule, NULL, NULL);
	DefineCustomStringVariable("presence_tracking.engagement_timezone",
							   "Time zone of the calendar days of view tracking (artifact_engagement, ledger partitions).",
							   "A view counts on its day in this zone; the ledger's monthly partitions start at midnight in it.  Changing it moves new views only: run presence_tracking.rebuild_stats() to recount the days the ledger holds.",
							   &pt_engagement_timezone, "UTC",
							   PGC_SUSET, 0,
							   check_engagement_timezone, NULL, NULL);
	DefineCustomIntVariable("presence_tracking.ledger_retention",
							"Age at which whole monthly partitions of the ledger are dropped; 0 keeps the ledger forever.",
							"A partition goes when its last instant is older than now() minus this; the counts keep its sessions.",
							&pt_ledger_retention, 0, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	settings_defined = true;
	MarkGUCPrefixReserved("presence_tracking");
}

/*
 * Cron schedule validation: the syntax pg_cron accepts, so that a typo is
 * refused when it is set rather than when the job is scheduled.
 */

typedef struct CronField
{
	const char *name;
	int			min;
	int			max;
	const char *const *names;	/* three-letter names for min..max, or NULL */
} CronField;

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
"jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static const CronField cron_fields[5] = {
	{"minute", 0, 59, NULL},
	{"hour", 0, 23, NULL},
	{"day of month", 1, 31, NULL},
	{"month", 1, 12, month_names},
	{"day of week", 0, 7, day_names},
};

/* Parse a number or a name at *p; advance *p.  Returns false when neither. */
static bool
cron_value(const char **p, const CronField *field, int *value)
{
	const char *s = *p;

	if (isdigit((unsigned char) *s))
	{
		long		v = 0;

		while (isdigit((unsigned char) *s) && v <= 1000)
			v = v * 10 + (*s++ - '0');
		*value = (int) v;
		*p = s;
		return true;
	}
	if (field->names != NULL)
	{
		for (int i = 0; i <= field->max - field->min; i++)
		{
			if (pg_strncasecmp(s, field->names[i], 3) == 0)
			{
				*value = field->min + i;
				*p = s + 3;
				return true;
			}
		}
	}
	return false;
}

/* One element of a comma list: "*", "*\/n", "a", "a-b", "a-b\/n" or "a\/n". */
static bool
cron_element(const char **p, const CronField *field, const char **why)
{
	int			lo,
				hi;

	if (**p == '*')
		(*p)++;
	else
	{
		if (!cron_value(p, field, &lo))
		{
			*why = psprintf("The %s field has an unexpected character.", field->name);
			return false;
		}
		hi = lo;
		if (**p == '-')
		{
			(*p)++;
			if (!cron_value(p, field, &hi))
			{
				*why = psprintf("The %s field has a range without an end.", field->name);
				return false;
			}
		}
		if (lo < field->min || hi > field->max || lo > hi)
		{
			*why = psprintf("The %s field must stay within %d-%d.", field->name, field->min, field->max);
			return false;
		}
	}
	if (**p == '/')
	{
		int			step;

		(*p)++;
		if (!isdigit((unsigned char) **p) || !cron_value(p, field, &step) || step < 1)
		{
			*why = psprintf("The %s field has a step that is not a positive number.", field->name);
			return false;
		}
	}
	return true;
}

static bool
cron_field(const char *text, const CronField *field, const char **why)
{
	const char *p = text;

	for (;;)
	{
		if (!cron_element(&p, field, why))
			return false;
		if (*p == '\0')
			return true;
		if (*p != ',')
		{
			*why = psprintf("The %s field has an unexpected character.", field->name);
			return false;
		}
		p++;
	}
}

bool
pt_cron_schedule_is_valid(const char *schedule, const char **why)
{
	static const char *const macros[] = {"@yearly", "@annually", "@monthly", "@weekly",
	"@daily", "@midnight", "@hourly"};
	char	   *copy;
	char	   *fields[6];
	int			nfields = 0;
	char	   *tok;
	char	   *save;

	for (int i = 0; i < (int) lengthof(macros); i++)
		if (pg_strcasecmp(schedule, macros[i]) == 0)
			return true;

	copy = pstrdup(schedule);
	for (tok = strtok_r(copy, " \t", &save); tok != NULL; tok = strtok_r(NULL, " \t", &save))
	{
		if (nfields == 6)
			break;
		fields[nfields++] = tok;
	}

	/* pg_cron 1.5 and later also run jobs every 1-59 seconds. */
	if (nfields == 2 && pg_strcasecmp(fields[1], "seconds") == 0)
	{
		char	   *end;
		long		secs = strtol(fields[0], &end, 10);

		if (*end == '\0' && secs >= 1 && secs <= 59)
			return true;
		*why = "An interval in seconds must be between 1 and 59.";
		return false;
	}
	if (nfields != 5)
	{
		*why = psprintf("A schedule has 5 fields; this one has %d.", nfields);
		return false;
	}
	for (int i = 0; i < 5; i++)
		if (!cron_field(fields[i], &cron_fields[i], why))
			return false;
	return true;
}
