-- record_view, extension, on open sessions only: one of the 50k users whose
-- (user, version) session is open (a same-session touch).  For the write-path
-- comparison (in place against the SQL path alone).
\set u random(1, 50000)
\set a :u % 2000 + 1
\set v :a * 10
SELECT presence_tracking.record_view(:u, :a, :v);
