//! Queries on `extensions` (current state) and `extension_transitions` (history).

use chrono::{DateTime, Utc};
use diesel::dsl::exists;
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::connection::DbConnection;
use super::models::{to_db_time, ExtensionRow, NewExtension, NewTransition, TransitionRow};
use super::schema::{extension_transitions as tr, extensions as ex};
use crate::model::{Extension, ExtensionTransition};

/// Rows per multi-row INSERT: far below both backends' bind-parameter limits.
const INSERT_CHUNK: usize = 1000;

/// Inserts or overwrites extensions' current state. `list` must not name the
/// same extension twice (see [`super::ops::latest_by_key`]).
pub fn upsert_many(conn: &mut DbConnection, list: &[&Extension]) -> QueryResult<()> {
    // ON CONFLICT is outside the MultiConnection subset, so the statement is built
    // per backend: one multi-row upsert per chunk on PostgreSQL, row by row on
    // SQLite (in-process, no round trips).
    match conn {
        DbConnection::Pg(c) => {
            for chunk in list.chunks(INSERT_CHUNK) {
                let rows: Vec<NewExtension<'_>> =
                    chunk.iter().map(|e| NewExtension::from(*e)).collect();
                diesel::insert_into(ex::table)
                    .values(&rows)
                    .on_conflict((ex::pbx, ex::extension))
                    .do_update()
                    .set((
                        ex::context.eq(excluded(ex::context)),
                        ex::hint.eq(excluded(ex::hint)),
                        ex::name.eq(excluded(ex::name)),
                        ex::status.eq(excluded(ex::status)),
                        ex::status_text.eq(excluded(ex::status_text)),
                        ex::state.eq(excluded(ex::state)),
                        ex::device_state.eq(excluded(ex::device_state)),
                        ex::last_change.eq(excluded(ex::last_change)),
                        ex::last_confirmed.eq(excluded(ex::last_confirmed)),
                    ))
                    .execute(c)?;
            }
        }
        // `REPLACE` rather than `ON CONFLICT DO UPDATE`: diesel never reuses a
        // prepared upsert, so SQLite parsed and planned it again for every row (half
        // of the writer's time on extensions); a `REPLACE` is prepared once per
        // connection. The row carries every column and no foreign key points at
        // this table, so replacing the row is the same as updating it.
        DbConnection::Sqlite(c) => {
            for e in list {
                diesel::replace_into(ex::table)
                    .values(&NewExtension::from(*e))
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

/// Appends state changes to the history.
pub fn insert_transitions(
    conn: &mut DbConnection,
    transitions: &[&ExtensionTransition],
) -> QueryResult<()> {
    match conn {
        DbConnection::Pg(c) => {
            for chunk in transitions.chunks(INSERT_CHUNK) {
                let rows: Vec<NewTransition<'_>> =
                    chunk.iter().map(|t| NewTransition::from(*t)).collect();
                diesel::insert_into(tr::table).values(&rows).execute(c)?;
            }
        }
        // Row by row on SQLite: a single-row INSERT is prepared once per connection
        // and reused, where a multi-row one has a new text for every row count and
        // was parsed and planned again for every batch (docs/PERFORMANCE.md,
        // "Store").
        DbConnection::Sqlite(c) => {
            for t in transitions {
                diesel::insert_into(tr::table)
                    .values(&NewTransition::from(*t))
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

/// Every stored extension (of one PBX, or all), ordered by PBX then number.
pub fn list(conn: &mut DbConnection, pbx: Option<&str>) -> QueryResult<Vec<ExtensionRow>> {
    let mut query = ex::table.select(ExtensionRow::as_select()).into_boxed();
    if let Some(pbx) = pbx {
        query = query.filter(ex::pbx.eq(pbx));
    }
    query.order((ex::pbx, ex::extension)).load(conn)
}

/// One extension, if stored.
pub fn get(conn: &mut DbConnection, pbx: &str, exten: &str) -> QueryResult<Option<ExtensionRow>> {
    ex::table
        .filter(ex::pbx.eq(pbx).and(ex::extension.eq(exten)))
        .select(ExtensionRow::as_select())
        .first(conn)
        .optional()
}

/// An extension's transitions between `from` and `to` (both inclusive), newest
/// first, at most `limit`.
pub fn history(
    conn: &mut DbConnection,
    pbx: &str,
    exten: &str,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: i64,
) -> QueryResult<Vec<TransitionRow>> {
    let mut query = tr::table
        .filter(tr::pbx.eq(pbx).and(tr::extension.eq(exten)))
        .select(TransitionRow::as_select())
        .into_boxed();
    if let Some(from) = from {
        query = query.filter(tr::at.ge(to_db_time(from)));
    }
    if let Some(to) = to {
        query = query.filter(tr::at.le(to_db_time(to)));
    }
    query
        .order((tr::at.desc(), tr::id.desc()))
        .limit(limit)
        .load(conn)
}

/// The transition in force at `at`: the last one at or before it.
pub fn state_at(
    conn: &mut DbConnection,
    pbx: &str,
    exten: &str,
    at: DateTime<Utc>,
) -> QueryResult<Option<TransitionRow>> {
    tr::table
        .filter(tr::pbx.eq(pbx).and(tr::extension.eq(exten)))
        .filter(tr::at.le(to_db_time(at)))
        .order((tr::at.desc(), tr::id.desc()))
        .select(TransitionRow::as_select())
        .first(conn)
        .optional()
}

/// Records that the PBX confirmed these extensions' state at `at`.
pub fn mark_confirmed(
    conn: &mut DbConnection,
    pbx: &str,
    extensions: &[String],
    at: DateTime<Utc>,
) -> QueryResult<usize> {
    let mut updated = 0;
    for chunk in extensions.chunks(INSERT_CHUNK) {
        updated += diesel::update(ex::table)
            .filter(ex::pbx.eq(pbx).and(ex::extension.eq_any(chunk)))
            .set(ex::last_confirmed.eq(Some(to_db_time(at))))
            .execute(conn)?;
    }
    Ok(updated)
}

/// Deletes transitions older than `older_than`, except each extension's latest
/// one before it, so [`state_at`] stays right for every instant still retained.
pub fn prune(conn: &mut DbConnection, older_than: DateTime<Utc>) -> QueryResult<usize> {
    // Deleting a superseded row never un-supersedes another (the row in force at
    // the cutoff stays), so steps of [`prune_some`] until none is left are the
    // whole prune.
    let mut total = 0;
    loop {
        match prune_some(conn, older_than, 10_000)? {
            0 => return Ok(total),
            n => total += n,
        }
    }
}

/// [`prune`], at most `limit` rows at a time (oldest first), so one step holds
/// the writer only briefly; returns how many rows went.
pub fn prune_some(
    conn: &mut DbConnection,
    older_than: DateTime<Utc>,
    limit: i64,
) -> QueryResult<usize> {
    let cutoff = to_db_time(older_than);
    let newer = diesel::alias!(tr as newer);
    let superseded = exists(
        newer
            .filter(newer.field(tr::pbx).eq(tr::pbx))
            .filter(newer.field(tr::extension).eq(tr::extension))
            .filter(newer.field(tr::at).le(cutoff))
            .filter(
                newer.field(tr::at).gt(tr::at).or(newer
                    .field(tr::at)
                    .eq(tr::at)
                    .and(newer.field(tr::id).gt(tr::id))),
            )
            .select(newer.field(tr::id)),
    );
    let ids: Vec<i64> = tr::table
        .filter(tr::at.lt(cutoff))
        .filter(superseded)
        .order(tr::at)
        .limit(limit)
        .select(tr::id)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::delete(tr::table.filter(tr::id.eq_any(&ids))).execute(conn)
}
