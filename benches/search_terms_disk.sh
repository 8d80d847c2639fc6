#!/bin/sh
# Disk that the history_filters migration adds on SQLite (its three calls indexes
# and the call_search terms with their cascade index), for N synthetic calls
# like the history bench's: a third from outside numbers (no name, as the call
# tracker stores "<unknown>"), names "User 1042" and
# "Agent Name 42". Needs sqlite3 and bc. Figures: docs/PERFORMANCE.md.
set -e
N=${N:-100000}
DB=$(mktemp -d)/m.db
M=migrations/sqlite  # run from the repository root
for m in 2026-11-22-000000_create_store 2026-12-07-000000_history_indexes 2026-12-07-200000_queue_calls; do cat $M/$m/up.sql; done | sqlite3 $DB
sqlite3 $DB "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n WHERE i < $N - 1)
INSERT INTO calls (pbx,id,direction,caller_number,caller_name,callee_number,callee_name,started_at,duration_secs,talk_secs,outcome,transfers,queue)
SELECT 'pbx1', printf('%010d.%d', 1700000000 + i, i),
  CASE WHEN i % 3 = 1 THEN 'inbound' ELSE 'internal' END,
  CASE WHEN i % 3 = 1 THEN printf('+336%08d', abs(random()) % 100000000) ELSE printf('%d', 1000 + i % 200) END,
  CASE WHEN i % 3 = 1 THEN NULL ELSE printf('User %d', 1000 + i % 200) END,
  printf('%d', 1000 + (i * 7) % 200), printf('Agent Name %d', (i * 7) % 200),
  datetime(1700000000 + i * 60, 'unixepoch'), 60, 50, 'answered', '[]', CASE WHEN i % 5 = 1 THEN 'sales' END
FROM n;"
before=$(sqlite3 $DB "VACUUM; PRAGMA page_count;" | tail -1)
sqlite3 $DB < $M/2026-12-07-210000_history_filters/up.sql
after=$(sqlite3 $DB "VACUUM; PRAGMA page_count;" | tail -1)
rows=$(sqlite3 $DB "SELECT count(*) FROM call_search")
psize=$(sqlite3 $DB "PRAGMA page_size")
echo "calls=$N search_rows=$rows rows_per_call=$(echo "scale=1; $rows/$N" | bc) before_MB=$(echo "$before*$psize/1000000" | bc) after_MB=$(echo "$after*$psize/1000000" | bc)"
echo "per_million_added_MB=$(echo "($after-$before)*$psize/$N" | bc)"
sqlite3 $DB "SELECT name, sum(pgsize)/1000000 || ' MB' FROM dbstat WHERE name IN ('call_search', 'call_search_call', 'calls_queue_started_at_id', 'calls_outcome_started_at_id', 'calls_direction_started_at_id') GROUP BY name;"
rm -rf $(dirname $DB)
