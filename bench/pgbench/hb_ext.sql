-- heartbeat, extension: 50k users, each on one artifact (25 per artifact), one version per artifact.
\set u random(1, 50000)
\set a :u % 2000 + 1
\set v :a * 10
SELECT presence_tracking.heartbeat(:u, :a, :v);
