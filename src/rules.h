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
 * Equality in SQL the writers and readers run: pg_catalog's operator by name,
 * so that no operator on a caller's search_path can stand in for it.
 */
#define EQ " OPERATOR(pg_catalog.=) "

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

/*
 * Live presence (1.3).  A session is live while it is open (not ended by
 * leave() or by the timeout sweep) and its last beat has not passed the TTL
 * window.  A user is present on an artifact while one of their sessions is
 * live.  What the face pile shows of a present user: the strongest state
 * over their sessions, and the version and data of their most recent
 * session, the one that started or changed (version, state, data) last.  A
 * plain beat changes neither, so it never changes what the face pile shows.
 */
#define PT_SESSION_LIVE_SQL(alias, window_start) \
	alias ".ended_at IS NULL AND NOT " PT_WINDOW_PASSED_SQL(alias ".last_seen_at", window_start)

/* States, weakest first: the strongest of a user's sessions is shown. */
#define PT_STATE_RANK_SQL(state) \
	"CASE WHEN " state " OPERATOR(pg_catalog.=) 'editing' THEN 2" \
	" WHEN " state " OPERATOR(pg_catalog.=) 'viewing' THEN 1 ELSE 0 END"
#define PT_STATE_BY_RANK_SQL(rank) \
	"('{idle,viewing,editing}'::pg_catalog.text[])[" rank " OPERATOR(pg_catalog.+) 1]"
static const char *const pt_state_names[] = {"idle", "viewing", "editing"};
#define PT_STATE_VIEWING 1

/*
 * The most recent session first: latest changed_at, then the smallest
 * session_id and version_id (the key type's order), so that ties settle the
 * same way in SQL and in C (sessions.c).
 */
#define PT_MOST_RECENT_FIRST_SQL(alias) \
	alias ".changed_at DESC, " alias ".session_id, " alias ".version_id"

#endif							/* PT_RULES_H */
