/*
 * rules.h
 *      The write rules, each stated once: the SQL fragment the statements
 *      use and the check the in-place path makes, side by side.
 *
 * The writers have two paths (rows.c writes an existing row in place; SQL
 * statements write new rows and every table left to the executor), and both
 * must apply the same rules.  Change a rule here, in both forms, and run the
 * suites with presence_tracking.force_sql_path on and off (make test does).
 */
#ifndef PT_RULES_H
#define PT_RULES_H

#include "postgres.h"

#include "utils/timestamp.h"

/*
 * A window has passed: the stored time lies at or before the start of the
 * window (of length debounce or ttl) that ends at the call, window_start =
 * at - length (pt_window_start).  Exactly one length apart counts as passed.
 *
 *   view debounce: a view opens a new session when the previous view of
 *                  the (user, version) has passed (views.c);
 *   presence ttl:  a beat starts a new streak when the previous beat on the
 *                  row has passed (heartbeat.c); a user is present on the
 *                  artifact while a beat on some version has not.
 */
#define PT_WINDOW_PASSED_SQL(stored, window_start) \
	stored " OPERATOR(pg_catalog.<=) " window_start

static inline bool
pt_window_passed(TimestampTz stored, TimestampTz window_start)
{
	return stored <= window_start;
}

/*
 * Times only move forward: a call older than the stored time leaves it
 * where it is.
 */
#define PT_LATEST_SQL(stored, incoming) "GREATEST(" stored ", " incoming ")"

static inline TimestampTz
pt_latest(TimestampTz stored, TimestampTz incoming)
{
	return incoming > stored ? incoming : stored;
}

#endif							/* PT_RULES_H */
