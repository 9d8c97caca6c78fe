-- A hostile role with presence_tracking_writer (and the TEMP privilege every
-- role has by default) tries each exploit found in 1.1.  Each must fail, and
-- change nothing.  Catalog checks at the end hold for every object the
-- extension will ever have.  Messages are terse where the detail would hold
-- times or statement text.
\set VERBOSITY terse
SET client_min_messages = error;
CREATE EXTENSION presence_tracking;
RESET client_min_messages;
CREATE ROLE regress_attacker LOGIN IN ROLE presence_tracking_writer;
CREATE ROLE regress_squatter LOGIN;
CREATE SCHEMA app AUTHORIZATION regress_attacker;

-- 1. pg_temp shadowing.  A DBA audits artifact_access with an ordinary
-- trigger that names its log table without a schema.  The attacker makes a
-- pg_temp.audit_log whose trigger tries to make it a superuser.
CREATE TABLE public.audit_log (user_id bigint, at timestamptz);
CREATE FUNCTION public.audit_access() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO audit_log VALUES (NEW.user_id, NEW.last_viewed_at); RETURN NEW; END $$;
-- cluster: differs (Citus refuses triggers on distributed tables)
CREATE TRIGGER audit AFTER INSERT OR UPDATE ON presence_tracking.artifact_access
  FOR EACH ROW EXECUTE FUNCTION public.audit_access();
GRANT INSERT ON public.audit_log TO presence_tracking_definer;
SET ROLE regress_attacker;
CREATE TABLE pg_temp.audit_log (user_id bigint, at timestamptz);
GRANT ALL ON pg_temp.audit_log TO PUBLIC;
CREATE FUNCTION pg_temp.escalate() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN ALTER ROLE regress_attacker SUPERUSER; RETURN NEW; END $$;
CREATE TRIGGER escalate BEFORE INSERT ON pg_temp.audit_log
  FOR EACH ROW EXECUTE FUNCTION pg_temp.escalate();
SELECT presence_tracking.record_view(1, 10, 100);
RESET ROLE;
SELECT rolsuper AS attacker_is_superuser FROM pg_roles WHERE rolname = 'regress_attacker';
SELECT count(*) AS views_recorded FROM presence_tracking.artifact_views;
-- The trigger the writers run sees only pg_catalog and pg_temp, so the DBA
-- qualifies the name; it runs as presence_tracking_definer.
ALTER TABLE public.audit_log ADD COLUMN who name, ADD COLUMN path text;
CREATE OR REPLACE FUNCTION public.audit_access() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO public.audit_log VALUES (NEW.user_id, NEW.last_viewed_at, current_user,
                                               current_setting('search_path')); RETURN NEW; END $$;
SET ROLE regress_attacker;
SELECT presence_tracking.record_view(1, 10, 100) AS new_session;
RESET ROLE;
SELECT who, path FROM public.audit_log;
DROP TRIGGER audit ON presence_tracking.artifact_access;
DROP TABLE pg_temp.audit_log;
DROP FUNCTION pg_temp.escalate();
-- cluster: end

-- 2. search_path shadowing.  A trigger on presence calls lower() without a
-- schema; the attacker puts its own lower() ahead of pg_catalog.
CREATE FUNCTION public.presence_check() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN PERFORM lower('X'); RETURN NEW; END $$;
-- cluster: differs (Citus refuses triggers on distributed tables)
CREATE TRIGGER check_presence BEFORE INSERT OR UPDATE ON presence_tracking.presence
  FOR EACH ROW EXECUTE FUNCTION public.presence_check();
-- cluster: end
SET ROLE regress_attacker;
CREATE FUNCTION app.lower(text) RETURNS text LANGUAGE plpgsql AS
  $$ BEGIN ALTER ROLE regress_attacker SUPERUSER; RETURN $1; END $$;
SET search_path = app, pg_catalog;
SELECT presence_tracking.heartbeat(1, 10, 100) AS joined;
SELECT * FROM presence_tracking.heartbeat_many('{2}', '{10}', '{100}');
RESET search_path;
RESET ROLE;
SELECT rolsuper AS attacker_is_superuser FROM pg_roles WHERE rolname = 'regress_attacker';
-- cluster: differs (Citus refuses triggers on distributed tables)
DROP TRIGGER check_presence ON presence_tracking.presence;
-- cluster: end

-- 3. Squatted schema.  A role that may create schemas makes one named
-- presence_tracking before the extension is installed: refused.
SET client_min_messages = error;
DROP EXTENSION presence_tracking;
RESET client_min_messages;
DROP SCHEMA presence_tracking;
SELECT format('GRANT CREATE ON DATABASE %I TO regress_squatter', current_database()) \gexec
SET ROLE regress_squatter;
CREATE SCHEMA presence_tracking;
RESET ROLE;
\set VERBOSITY default
CREATE EXTENSION presence_tracking;
\set VERBOSITY terse
DROP SCHEMA presence_tracking;
-- A superuser's empty schema, closed to others, is taken (a dump's restore
-- makes one); one that grants CREATE to others is not.
CREATE SCHEMA presence_tracking;
GRANT CREATE ON SCHEMA presence_tracking TO regress_squatter;
CREATE EXTENSION presence_tracking;
REVOKE CREATE ON SCHEMA presence_tracking FROM regress_squatter;
SET client_min_messages = error;
CREATE EXTENSION presence_tracking;
RESET client_min_messages;
-- A second key type in the same database says what is installed.
CREATE EXTENSION presence_tracking_uuid;
-- The C code follows the schema by OID: renamed, with a look-alike under
-- the old name, the writes still land in the extension's own tables.
SELECT presence_tracking.record_view(3, 30, 300) AS before_rename;
ALTER SCHEMA presence_tracking RENAME TO presence_tracking_real;
SET ROLE regress_squatter;
CREATE SCHEMA presence_tracking;
CREATE TABLE presence_tracking.presence (artifact_id bigint, user_id bigint, version_id bigint,
  last_seen_at timestamptz, joined_at timestamptz, beats bigint, PRIMARY KEY (artifact_id, user_id, version_id));
CREATE TABLE presence_tracking.artifact_version_stats (user_id bigint, version_id bigint, artifact_id bigint,
  view_count bigint, first_viewed_at timestamptz, last_viewed_at timestamptz, session_hits bigint,
  PRIMARY KEY (user_id, version_id));
CREATE TABLE presence_tracking.artifact_views (user_id bigint, artifact_id bigint, version_id bigint, viewed_at timestamptz);
CREATE TABLE presence_tracking.artifact_access (user_id bigint, artifact_id bigint, last_viewed_at timestamptz,
  PRIMARY KEY (user_id, artifact_id));
CREATE TABLE presence_tracking.artifact_versions (version_id bigint PRIMARY KEY, artifact_id bigint);
GRANT ALL ON ALL TABLES IN SCHEMA presence_tracking TO PUBLIC;
RESET ROLE;
SELECT presence_tracking_real.record_view(3, 30, 301) AS after_rename,
       presence_tracking_real.heartbeat(3, 30, 301) AS joined;
SELECT count(*) AS real_views FROM presence_tracking_real.artifact_version_stats;
SELECT (SELECT count(*) FROM presence_tracking.artifact_version_stats)
     + (SELECT count(*) FROM presence_tracking.presence) AS lookalike_rows;
DROP SCHEMA presence_tracking CASCADE;
ALTER SCHEMA presence_tracking_real RENAME TO presence_tracking;

-- 4. READ ONLY transactions: refused on both write paths, as an UPDATE is.
SELECT presence_tracking.heartbeat(4, 40, 400) AS joined, presence_tracking.record_view(4, 40, 400) AS new_session;
BEGIN READ ONLY;
SELECT presence_tracking.heartbeat(4, 40, 400);
ROLLBACK;
BEGIN READ ONLY;
SELECT presence_tracking.record_view(4, 40, 400);
ROLLBACK;
BEGIN READ ONLY;
SELECT * FROM presence_tracking.heartbeat_many('{4}', '{40}', '{400}');
ROLLBACK;
-- A new row, the SQL path, is refused the same way.
BEGIN READ ONLY;
SELECT presence_tracking.record_view(4, 41, 410);
ROLLBACK;
-- cluster: differs (Citus cannot join tables distributed by different columns)
SELECT beats, session_hits FROM presence_tracking.presence p
  JOIN presence_tracking.artifact_version_stats s USING (user_id, version_id) WHERE user_id = 4;
-- cluster: end

-- 5. Forged counts by back-dating: a writer cannot reach the past.
SET ROLE regress_attacker;
SELECT presence_tracking.record_view(42, 7, 700, '1990-01-01'::timestamptz + g * interval '1 hour')
  FROM generate_series(0, 999) g;
SELECT presence_tracking.record_view(42, 7, 700, now() - interval '10 minutes');
-- ... nor set the bound, which is for superusers (imports).
SET presence_tracking.max_backdate = -1;
RESET ROLE;
SELECT count(*) AS forged FROM presence_tracking.artifact_views WHERE user_id = 42;
-- A superuser imports older views in its own session.
SET presence_tracking.max_backdate = -1;
SELECT presence_tracking.record_view(42, 7, 700, '1990-01-01 00:00+00') AS imported;
RESET presence_tracking.max_backdate;

-- 6. A version belongs to one artifact.
SET ROLE regress_attacker;
SELECT presence_tracking.record_view(8, 80, 800) AS first;
\set VERBOSITY default
SELECT presence_tracking.record_view(8, 81, 800);
\set VERBOSITY terse
SELECT presence_tracking.record_view(9, 81, 800);
SELECT presence_tracking.heartbeat(9, 81, 800);
SELECT * FROM presence_tracking.heartbeat_many('{9, 9}', '{82, 83}', '{820, 820}');
RESET ROLE;
SELECT artifact_id, version_id FROM presence_tracking.artifact_version_stats WHERE version_id IN (800, 820);
SELECT * FROM presence_tracking.artifact_stats(81);
SELECT * FROM presence_tracking.artifact_versions WHERE version_id IN (800, 820);

-- 7. Domain constraints are kept: the in-place path leaves such a column
-- to the executor.
CREATE DOMAIN small_count AS bigint CHECK (VALUE < 3);
ALTER TABLE presence_tracking.artifact_version_stats ALTER COLUMN session_hits TYPE small_count;
SET ROLE regress_attacker;
SELECT presence_tracking.record_view(5, 50, 500) AS new_session;
SELECT presence_tracking.record_view(5, 50, 500) AS same_session;
-- cluster: differs (the error comes from a worker, which names the domain without its schema)
SELECT presence_tracking.record_view(5, 50, 500);
-- cluster: end
RESET ROLE;
SELECT session_hits FROM presence_tracking.artifact_version_stats WHERE user_id = 5;
ALTER TABLE presence_tracking.artifact_version_stats ALTER COLUMN session_hits TYPE bigint;
DROP DOMAIN small_count;

-- 9. A non-owner's DROP SCHEMA gets the ownership error.
SET ROLE regress_attacker;
DROP SCHEMA presence_tracking CASCADE;
DROP EXTENSION presence_tracking;
RESET ROLE;

-- Catalog checks that hold for every function and table, present or future.
-- No function is SECURITY DEFINER: the writers switch to
-- presence_tracking_definer in C (src/definer.c).  Were one added, it must
-- pin search_path, pg_temp last, and run as a role that is not a superuser.
SELECT p.oid::regprocedure AS unpinned_or_superuser_definer
  FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner
 WHERE p.pronamespace = 'presence_tracking'::regnamespace AND p.prosecdef
   AND (p.proconfig IS NULL OR NOT 'search_path=pg_catalog, pg_temp' = ANY (p.proconfig) OR r.rolsuper);
SELECT count(*) AS security_definers FROM pg_proc
 WHERE pronamespace = 'presence_tracking'::regnamespace AND prosecdef;
-- Everything run by pg_cron or the event trigger pins it too.
SELECT p.oid::regprocedure AS unpinned_privileged
  FROM pg_proc p
 WHERE p.pronamespace = 'presence_tracking'::regnamespace
   AND p.proname IN ('purge', 'schedule_purge', 'unschedule_purge', 'on_drop')
   AND (p.proconfig IS NULL OR NOT 'search_path=pg_catalog, pg_temp' = ANY (p.proconfig));
-- PUBLIC executes nothing (a NULL ACL means PUBLIC may).
SELECT p.oid::regprocedure AS public_executable
  FROM pg_proc p
 WHERE p.pronamespace = 'presence_tracking'::regnamespace
   AND (p.proacl IS NULL OR EXISTS (SELECT FROM aclexplode(p.proacl) a
                                     WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'));
-- The writer and reader roles write no table directly.
SELECT c.oid::regclass AS writable, r.rolname
  FROM pg_class c, pg_roles r
 WHERE c.relnamespace = 'presence_tracking'::regnamespace AND c.relkind IN ('r', 'p')
   AND r.rolname IN ('presence_tracking_writer', 'presence_tracking_reader', 'regress_attacker')
   AND has_table_privilege(r.oid, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER');
-- The definer role: no login, no members or memberships, no attributes,
-- and it owns nothing (an owner could alter what it owns from hijacked code).
-- cluster: differs (the definer logs in on a cluster, as distribute() requires)
SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls,
       (SELECT count(*) FROM pg_auth_members WHERE roleid = r.oid OR member = r.oid) AS memberships,
       (SELECT count(*) FROM pg_shdepend WHERE refobjid = r.oid AND deptype = 'o') AS owns
  FROM pg_roles r WHERE rolname = 'presence_tracking_definer';
-- cluster: end

DROP SCHEMA app CASCADE;
DROP TABLE public.audit_log;
DROP FUNCTION public.audit_access(), public.presence_check();
SELECT format('REVOKE CREATE ON DATABASE %I FROM regress_squatter', current_database()) \gexec
DROP ROLE regress_attacker, regress_squatter;
SET client_min_messages = error;
DROP EXTENSION presence_tracking;
RESET client_min_messages;
DROP SCHEMA presence_tracking;
