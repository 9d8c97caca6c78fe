-- artifact_engagement over a year of days of the busy artifact (load_engagement.sql).
SELECT count(*) FROM presence_tracking.artifact_engagement(900001, current_date - 364, current_date);
