//! Keeping `call_search` in step with `calls` without a foreign key.
//!
//! A term row is only its key `(term, started_at, call_id, pbx)`: no foreign key
//! to `calls` and no `(call_id, pbx)` index, which each cost every one of the ~22
//! rows a finished call writes (see the `search_terms_unlinked` migration). So
//! whoever replaces or deletes a stored call deletes its terms here, by their
//! key, computed again from the call's stored numbers and names
//! ([`TermSource::terms`]: the same function that wrote them).

use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Text, Timestamp};
use diesel::sqlite::Sqlite;

use super::connection::{with_backend, DbConnection};
use super::models::{DbTime, NewSearchTerm, TermSource};
use super::schema::{call_search as search, call_search_pending as pending, calls};

/// Rows per statement of [`insert_terms_sqlite`] (the rest go one by one).
const TERM_ROWS: usize = 16;

/// Inserts terms on SQLite: [`TERM_ROWS`] rows per statement, in key order.
///
/// diesel builds an insert's SQL text on every execution just to find its
/// prepared statement, walks it again to bind, and SQLite steps and resets it:
/// per row, that cost as much as the row's B-tree insert. [`TermRows`] has a
/// static query id (its statement is found by type, not by text) and carries
/// several rows; its row count is fixed, so it stays one prepared statement.
/// Sorted by key, consecutive rows land in the same B-tree pages.
pub(super) fn insert_terms_sqlite(
    c: &mut diesel::SqliteConnection,
    mut rows: Vec<NewSearchTerm<'_>>,
) -> QueryResult<()> {
    rows.sort_unstable_by(|a, b| a.term.cmp(&b.term));
    let mut chunks = rows.chunks_exact(TERM_ROWS);
    for chunk in &mut chunks {
        TermRows::<TERM_ROWS>(chunk).execute(c)?;
    }
    for row in chunks.remainder() {
        TermRows::<1>(std::slice::from_ref(row)).execute(c)?;
    }
    Ok(())
}

/// `INSERT INTO call_search … VALUES` of exactly `N` rows (see
/// [`insert_terms_sqlite`]).
struct TermRows<'a, const N: usize>(&'a [NewSearchTerm<'a>]);

impl<const N: usize> QueryId for TermRows<'_, N> {
    type QueryId = TermRows<'static, N>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const N: usize> QueryFragment<Sqlite> for TermRows<'_, N> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        if self.0.len() != N {
            // The text is cached by type: another count would bind the wrong rows.
            return Err(diesel::result::Error::QueryBuilderError(
                format!("{} term rows for a statement of {N}", self.0.len()).into(),
            ));
        }
        out.push_sql("INSERT INTO call_search (term, started_at, call_id, pbx) VALUES ");
        for (i, row) in self.0.iter().enumerate() {
            out.push_sql(if i == 0 { "(" } else { ", (" });
            out.push_bind_param::<Text, _>(&row.term)?;
            out.push_sql(", ");
            out.push_bind_param::<Timestamp, _>(&row.started_at)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(&row.call_id)?;
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(&row.pbx)?;
            out.push_sql(")");
        }
        Ok(())
    }
}

impl<const N: usize> RunQueryDsl<diesel::SqliteConnection> for TermRows<'_, N> {}

/// Calls re-termed per statement by [`rebuild_pending`].
const PENDING_CHUNK: i64 = 500;

/// Deletes the terms of these stored calls (before or after their rows go).
pub fn delete_terms(conn: &mut DbConnection, stored: &[TermSource]) -> QueryResult<usize> {
    let mut deleted = 0;
    match conn {
        // Term by term: one statement text, prepared once per connection.
        DbConnection::Sqlite(c) => {
            for call in stored {
                deleted += delete_terms_sqlite(c, call)?;
            }
        }
        // One statement per call: `term = ANY($1)` is one text for any count.
        DbConnection::Pg(c) => {
            for call in stored {
                let terms: Vec<String> = call.terms().into_iter().collect();
                deleted += diesel::delete(
                    search::table
                        .filter(search::term.eq_any(&terms))
                        .filter(search::started_at.eq(DbTime(call.started_at)))
                        .filter(search::call_id.eq(&call.id))
                        .filter(search::pbx.eq(&call.pbx)),
                )
                .execute(c)?;
            }
        }
    }
    Ok(deleted)
}

/// [`delete_terms`] of one call on SQLite.
pub(super) fn delete_terms_sqlite(
    c: &mut diesel::SqliteConnection,
    call: &TermSource,
) -> QueryResult<usize> {
    let mut deleted = 0;
    for term in call.terms() {
        deleted += diesel::delete(
            search::table
                .filter(search::term.eq(term))
                .filter(search::started_at.eq(DbTime(call.started_at)))
                .filter(search::call_id.eq(&call.id))
                .filter(search::pbx.eq(&call.pbx)),
        )
        .execute(c)?;
    }
    Ok(deleted)
}

/// Writes the terms of the calls the migration queued in `call_search_pending`
/// (those whose terms SQL had computed differently), then empties the queue.
/// Run once at open, right after the migrations; a no-op when none is queued.
pub fn rebuild_pending(conn: &mut DbConnection) -> QueryResult<usize> {
    let mut rebuilt = 0;
    loop {
        let done = conn.transaction(|conn| {
            let queued: Vec<TermSource> = pending::table
                .inner_join(
                    calls::table.on(calls::id
                        .eq(pending::call_id)
                        .and(calls::pbx.eq(pending::pbx))),
                )
                .select(TermSource::as_select())
                .limit(PENDING_CHUNK)
                .load(conn)?;
            for call in &queued {
                let rows: Vec<NewSearchTerm<'_>> = call
                    .terms()
                    .into_iter()
                    .map(|term| NewSearchTerm {
                        term,
                        started_at: DbTime(call.started_at),
                        call_id: &call.id,
                        pbx: &call.pbx,
                    })
                    .collect();
                diesel::delete(
                    pending::table
                        .filter(pending::call_id.eq(&call.id))
                        .filter(pending::pbx.eq(&call.pbx)),
                )
                .execute(conn)?;
                with_backend!(&mut *conn, c =>
                    diesel::insert_into(search::table).values(&rows).execute(c))?;
            }
            if queued.is_empty() {
                // Whatever is left names no stored call.
                diesel::delete(pending::table).execute(conn)?;
            }
            QueryResult::Ok(queued.len())
        })?;
        if done == 0 {
            return Ok(rebuilt);
        }
        rebuilt += done;
    }
}
