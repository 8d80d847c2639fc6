//! The fast fill at 10 M calls on PostgreSQL: a base written by the store's
//! writer, then copied server-side, replica by replica, into exactly the rows
//! the writer would have written for the replicated calls.
//!
//! Through `Store::finish_calls` alone a million calls take about 15 minutes
//! (each writes two or three legs, its `call_parties` and ~38 `call_search`
//! rows, every one into five indexes), so ten million would take hours. Here
//! the base (`HISTORY_FILL_BASE` calls, default 100,000) goes through the
//! writer; then each table's rows are copied `n / base - 1` times by
//! `INSERT … SELECT` with the secondary indexes (and the key tables' primary
//! keys) dropped and built again afterwards from their own definitions
//! (`pg_indexes`, `pg_constraint`: what the migrations left), and the foreign
//! keys' checks off for the copying session (`session_replication_role`): the
//! rows are consistent by construction, and [`check`] verifies it.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};

use crate::calls::{replica, replica_suffix, span_micros};
use crate::store::{Kind, TestDb};

/// The tables a finished call writes, in the order they are copied.
const TABLES: [&str; 4] = ["calls", "call_legs", "call_parties", "call_search"];
/// The key tables: their primary key is built after the copy too (nothing
/// refers to it, and it is most of their write cost).
const KEY_TABLES: [&str; 2] = ["call_parties", "call_search"];
/// Replicas per `INSERT` of a key table, so progress shows.
const REPLICAS_PER_STATEMENT: usize = 10;

#[derive(QueryableByName)]
struct Named {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    def: String,
}

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    kind: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Rows {
    #[diesel(sql_type = Text)]
    rows: String,
}

/// The secondary indexes of the copied tables (not those behind a constraint).
fn indexes(c: &mut PgConnection) -> Vec<Named> {
    let tables: Vec<String> = TABLES.iter().map(|t| format!("'{t}'")).collect();
    diesel::sql_query(format!(
        "SELECT indexname AS name, indexdef AS def FROM pg_indexes \
         WHERE schemaname = current_schema() AND tablename IN ({}) \
         AND indexname NOT IN (SELECT conname FROM pg_constraint) ORDER BY indexname",
        tables.join(", ")
    ))
    .load(c)
    .expect("index definitions")
}

/// The key tables' primary keys as `ALTER TABLE … ADD CONSTRAINT` texts.
fn primary_keys(c: &mut PgConnection) -> Vec<Named> {
    let tables: Vec<String> = KEY_TABLES.iter().map(|t| format!("'{t}'")).collect();
    diesel::sql_query(format!(
        "SELECT conrelid::regclass::text || ' ' || conname AS name, \
         pg_get_constraintdef(oid) AS def FROM pg_constraint \
         WHERE contype = 'p' AND conrelid::regclass::text IN ({})",
        tables.join(", ")
    ))
    .load(c)
    .expect("primary keys")
}

fn count(c: &mut PgConnection, table: &str) -> i64 {
    let rows: Vec<Count> = diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
        .load(c)
        .expect("count");
    rows.first().map_or(0, |r| r.n)
}

/// `INSERT … SELECT` of replicas `from..to` of the base rows of `table`: the
/// call's id and the legs' uniqueids suffixed, every timestamp shifted, the
/// legs' own serial id left to its default.
fn copy_sql(c: &mut PgConnection, table: &str, from: usize, to: usize, step_us: i64) -> String {
    let columns: Vec<Column> = diesel::sql_query(format!(
        "SELECT column_name::text AS name, data_type::text AS kind FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = '{table}' ORDER BY ordinal_position"
    ))
    .load(c)
    .expect("columns");
    let suffix = "'-r' || lpad(g.r::text, 3, '0')";
    let (mut names, mut values) = (Vec::new(), Vec::new());
    for col in &columns {
        let name = col.name.as_str();
        let value = match (table, name) {
            ("call_legs", "id") => continue,
            ("calls", "id") | (_, "call_id") | ("call_legs", "uniqueid") => {
                format!("b.{name} || {suffix}")
            }
            _ if col.kind.starts_with("timestamp") => {
                format!("b.{name} + (g.r::bigint * {step_us})::float8 * interval '1 microsecond'")
            }
            _ => format!("b.{name}"),
        };
        names.push(name.to_string());
        values.push(value);
    }
    // The calls and their legs go in in time order, as the writer would have
    // appended them; the key tables are read index-only, their order is moot.
    let order = match table {
        "calls" => "ORDER BY b.started_at, g.r",
        "call_legs" => "ORDER BY b.started_at, g.r, b.call_id, b.position",
        _ => "",
    };
    format!(
        "INSERT INTO {table} ({}) SELECT {} FROM base_{table} b \
         CROSS JOIN generate_series({from}, {}) AS g(r) {order}",
        names.join(", "),
        values.join(", "),
        to - 1
    )
}

fn timed(c: &mut PgConnection, what: &str, sql: &str) {
    let t0 = Instant::now();
    c.batch_execute(sql)
        .unwrap_or_else(|e| panic!("{what}: {e}\n{sql}"));
    eprintln!("  {what}: {:.0} s", t0.elapsed().as_secs_f64());
}

/// Copies the `base` calls already in `db` until there are `n` (a multiple of
/// `base`), then builds the indexes again. Returns the time it took.
pub fn fill(db: &TestDb, base: usize, n: usize) -> Duration {
    assert_eq!(
        db.kind,
        Kind::Postgres,
        "the replicated fill is PostgreSQL's"
    );
    let replicas = n / base;
    let started = Instant::now();
    let mut c = PgConnection::establish(&db.url).expect("connect");
    let before: Vec<i64> = TABLES.iter().map(|t| count(&mut c, t)).collect();
    c.batch_execute(
        "SET maintenance_work_mem = '1GB'; SET max_parallel_maintenance_workers = 2; \
         SET session_replication_role = replica",
    )
    .expect("session settings");
    // The base rows apart, so each statement copies the base and not the
    // replicas the previous one added.
    for table in TABLES {
        c.batch_execute(&format!(
            "CREATE TEMP TABLE base_{table} AS SELECT * FROM {table}"
        ))
        .expect("base rows");
    }
    let (indexes, keys) = (indexes(&mut c), primary_keys(&mut c));
    for i in &indexes {
        c.batch_execute(&format!("DROP INDEX {}", i.name))
            .expect("drop index");
    }
    for k in &keys {
        let (table, name) = k.name.split_once(' ').expect("table and key");
        c.batch_execute(&format!("ALTER TABLE {table} DROP CONSTRAINT {name}"))
            .expect("drop key");
    }
    let step_us = span_micros() / n as i64;
    for table in TABLES {
        let per = match KEY_TABLES.contains(&table) {
            true => REPLICAS_PER_STATEMENT,
            false => replicas,
        };
        let mut from = 1;
        while from < replicas {
            let to = (from + per).min(replicas);
            let sql = copy_sql(&mut c, table, from, to, step_us);
            timed(&mut c, &format!("{table} replicas {from}..{to}"), &sql);
            from = to;
        }
    }
    for k in &keys {
        let (table, name) = k.name.split_once(' ').expect("table and key");
        let sql = format!("ALTER TABLE {table} ADD CONSTRAINT {name} {}", k.def);
        timed(&mut c, &format!("key {name}"), &sql);
    }
    for i in &indexes {
        timed(&mut c, &format!("index {}", i.name), &i.def);
    }
    c.batch_execute("RESET session_replication_role")
        .expect("reset");
    for (table, base_rows) in TABLES.iter().zip(before) {
        let rows = count(&mut c, table);
        assert_eq!(
            rows,
            base_rows * replicas as i64,
            "{table}: {replicas} replicas of {base_rows} rows"
        );
        eprintln!("  {table}: {rows} rows = {replicas} × {base_rows}");
    }
    started.elapsed()
}

/// Every row of `table` for one call, as text, in a stable order (the legs'
/// serial id aside).
fn rows_of(c: &mut PgConnection, table: &str, id: &str) -> String {
    let key = if table == "calls" { "id" } else { "call_id" };
    let columns = match table {
        "call_legs" => {
            "pbx, call_id, position, uniqueid, channel, number, extension, state, \
                        started_at, answered_at, ended_at, hangup_cause, hangup_cause_text"
        }
        _ => "*",
    };
    let rows: Vec<Rows> = diesel::sql_query(format!(
        "SELECT coalesce(string_agg(t::text, '|' ORDER BY t::text), '') AS rows \
         FROM (SELECT {columns} FROM {table} WHERE {key} = '{id}') t"
    ))
    .load(c)
    .expect("rows of a call");
    rows.into_iter().next().map_or_else(String::new, |r| r.rows)
}

/// Writes a sample of the replicated calls through `Store::finish_calls` into a
/// scratch database and compares, table by table, what the writer wrote with
/// what the copy holds: the same rows (terms, parties, legs, the call).
pub fn check(db: &TestDb, base: usize, n: usize, now: DateTime<Utc>) {
    let Some(scratch) = TestDb::create(Kind::Postgres) else {
        panic!("no PostgreSQL for the check");
    };
    let replicas = n / base;
    let sample: Vec<(usize, usize)> = (0..40)
        .map(|k| ((k * 7_919 + 13) % base, (k * 37 + 1) % replicas))
        .collect();
    let calls: Vec<_> = sample
        .iter()
        .map(|&(j, r)| replica(j, base, r, n, now))
        .collect();
    scratch.open().finish_calls(&calls).expect("writer's rows");
    let mut ours = PgConnection::establish(&db.url).expect("connect");
    let mut theirs = PgConnection::establish(&scratch.url).expect("connect");
    for (call, (j, r)) in calls.iter().zip(&sample) {
        for table in TABLES {
            let written = rows_of(&mut theirs, table, &call.id);
            assert!(!written.is_empty(), "{table} has no rows for {}", call.id);
            assert_eq!(
                rows_of(&mut ours, table, &call.id),
                written,
                "{table}: base call {j} as replica {r} ({})",
                replica_suffix(*r)
            );
        }
    }
    eprintln!(
        "  checked {} replicated calls: the same rows as the writer's",
        sample.len()
    );
}
