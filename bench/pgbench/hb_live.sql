-- heartbeat during the timeout phase: 2,000 users, each on one artifact, about once a second at 2,000 tps.
\set u random(1, 2000)
\set a :u % 2000 + 1
\set v :a * 10
SELECT presence_tracking.heartbeat(:u, :a, :v);
