-- Settings: units, range, the rules that tie them, cron syntax, superuser only.
CREATE EXTENSION presence_tracking;

-- Units.
SET presence_tracking.ttl = '3min';
SHOW presence_tracking.ttl;
SET presence_tracking.ttl = '90s';
SHOW presence_tracking.ttl;
SET presence_tracking.view_debounce = '2h';
SHOW presence_tracking.view_debounce;
SET presence_tracking.view_debounce = 1800;
SHOW presence_tracking.view_debounce;
RESET presence_tracking.ttl;
RESET presence_tracking.view_debounce;

-- Zero, negative and unparsable values.
SET presence_tracking.ttl = 0;
SET presence_tracking.heartbeat_interval = '-1s';
SET presence_tracking.retention = 'soon';
SET presence_tracking.view_debounce = '0';

-- ttl must be above heartbeat_interval: equal is refused too.
SET presence_tracking.ttl = '60s';
SET presence_tracking.heartbeat_interval = '150s';
SET presence_tracking.heartbeat_interval = '149s';
SHOW presence_tracking.heartbeat_interval;
RESET presence_tracking.heartbeat_interval;

-- retention must not be below ttl: equal is accepted.
SET presence_tracking.retention = '149s';
SET presence_tracking.retention = '150s';
SHOW presence_tracking.retention;
SET presence_tracking.ttl = '151s';
RESET presence_tracking.retention;

-- Lowering both, in an order that keeps the rules at each step.
SET presence_tracking.heartbeat_interval = '5s';
SET presence_tracking.ttl = '10s';
SET presence_tracking.retention = '10s';
SELECT current_setting('presence_tracking.heartbeat_interval'),
       current_setting('presence_tracking.ttl'),
       current_setting('presence_tracking.retention');
RESET presence_tracking.retention;
RESET presence_tracking.ttl;
RESET presence_tracking.heartbeat_interval;

-- Cron schedules.
SET presence_tracking.cleanup_schedule = '*/5 * * * *';
SET presence_tracking.cleanup_schedule = '0,30 8-18 * jan-jun mon-fri';
SET presence_tracking.cleanup_schedule = '@hourly';
SET presence_tracking.cleanup_schedule = '30 seconds';
SET presence_tracking.cleanup_schedule = '0 0 1 12 7';
SHOW presence_tracking.cleanup_schedule;
SET presence_tracking.cleanup_schedule = '60 * * * *';
SET presence_tracking.cleanup_schedule = '0 24 * * *';
SET presence_tracking.cleanup_schedule = '0 * 0 * *';
SET presence_tracking.cleanup_schedule = '0 * * 13 *';
SET presence_tracking.cleanup_schedule = '0 * * * 8';
SET presence_tracking.cleanup_schedule = '5-1 * * * *';
SET presence_tracking.cleanup_schedule = '*/0 * * * *';
SET presence_tracking.cleanup_schedule = '* * * *';
SET presence_tracking.cleanup_schedule = '* * * * * *';
SET presence_tracking.cleanup_schedule = 'every hour';
SET presence_tracking.cleanup_schedule = '';
SET presence_tracking.cleanup_schedule = '0 seconds';
SET presence_tracking.cleanup_schedule = 'x * * * *';
RESET presence_tracking.cleanup_schedule;
SHOW presence_tracking.cleanup_schedule;

-- Unknown names under the prefix are refused.
SET presence_tracking.tll = '90s';

-- Only superusers change them: an application role cannot shrink the debounce.
CREATE ROLE regress_pt_app LOGIN;
SET ROLE regress_pt_app;
SET presence_tracking.view_debounce = '1s';
SHOW presence_tracking.view_debounce;
RESET ROLE;
DROP ROLE regress_pt_app;

DROP EXTENSION presence_tracking;
DROP SCHEMA presence_tracking;
