# Invariant queries shared by the TAP tests that load the view tables.
package PresenceInvariants;
use strict;
use warnings;
use Exporter 'import';
our @EXPORT = qw(tier_violations duplicate_sessions indexes_verified);

# (user, version) rows that disagree with their ledger rows (view_count,
# first and last view) or whose access row is missing or behind.
sub tier_violations
{
	my ($node) = @_;
	return $node->safe_psql('postgres', q{
		SELECT count(*) FROM presence_tracking.artifact_version_stats s
		  LEFT JOIN LATERAL (SELECT count(*) AS n, min(viewed_at) AS first, max(viewed_at) AS last
		                       FROM presence_tracking.artifact_views l
		                      WHERE l.user_id = s.user_id AND l.version_id = s.version_id) l ON true
		 WHERE s.view_count <> l.n OR s.first_viewed_at <> l.first OR s.last_viewed_at < l.last
		    OR NOT EXISTS (SELECT FROM presence_tracking.artifact_access a
		                    WHERE a.user_id = s.user_id AND a.artifact_id = s.artifact_id
		                      AND a.last_viewed_at >= s.last_viewed_at)});
}

# Ledger rows that follow the previous session of the same (user, version)
# by less than $debounce (an interval literal): duplicate sessions.
sub duplicate_sessions
{
	my ($node, $ledger, $debounce) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT count(*) FROM (
		  SELECT viewed_at - lag(viewed_at) OVER (PARTITION BY user_id, version_id ORDER BY viewed_at) AS gap
		    FROM $ledger) g
		 WHERE gap < interval '$debounce'});
}

# amcheck on every index of the extension's tables, with heapallindexed:
# each index is a valid btree and holds every row of its table (rows written
# in place must have their index entries when an update is not HOT).  An
# error fails the caller; returns the number of indexes checked.
# bt_index_check of every btree index of the extension's tables (it raises
# on a broken one) and the number the extension has: twelve of its own
# tables and one per partition of the ledger (1.4 partitions it by month).
sub indexes_verified
{
	my ($node) = @_;
	my $expected = $node->safe_psql('postgres', q{
		SELECT 12 + count(*) FROM pg_inherits
		 WHERE inhparent = 'presence_tracking.artifact_views'::regclass});
	return ($expected, indexes_checked($node));
}

sub indexes_checked
{
	my ($node) = @_;
	$node->safe_psql('postgres', 'CREATE EXTENSION IF NOT EXISTS amcheck');
	return $node->safe_psql('postgres', q{
		SELECT count(bt_index_check(i.indexrelid, true))
		  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
		 WHERE c.relnamespace = 'presence_tracking'::regnamespace});
}

1;
