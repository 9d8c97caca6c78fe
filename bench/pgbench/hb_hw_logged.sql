-- heartbeat, hand-written: plpgsql upsert into a logged table.
\set u random(1, 50000)
\set a :u % 2000 + 1
\set v :a * 10
SELECT handwritten.heartbeat(:u, :a, :v);
