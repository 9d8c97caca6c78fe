-- record_view, hand-written expert plpgsql.
-- (100 - new_pct)% of calls: one of the 50k users whose (user, version) session is open
-- (a same-session touch); new_pct% (-D new_pct=N, default 10 from run.sh): a brand-new user
-- (first view: new stats, ledger and access rows).
\set u random(1, 50000)
\if random(1, 100) <= :new_pct
\set u random(100001, 2000000000)
\endif
\set a :u % 2000 + 1
\set v :a * 10
SELECT handwritten.record_view(:u, :a, :v);
