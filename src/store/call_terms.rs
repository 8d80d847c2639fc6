//! Keeping `call_search` in step with `calls` without a foreign key.
//!
//! A term row is only its key `(term, started_at, call_id, pbx)`: no foreign key
//! to `calls` and no `(call_id, pbx)` index, which each cost every one of the ~22
//! rows a finished call writes (see the `search_terms_unlinked` migration). So
//! whoever replaces or deletes a stored call deletes its terms here, by their
//! key, computed again from the call's stored numbers and names
//! ([`TermSource::terms`]: the same function that wrote them).

use diesel::prelude::*;

use super::connection::{with_backend, DbConnection};
use super::models::{DbTime, NewSearchTerm, TermSource};
use super::schema::{call_search as search, call_search_pending as pending, calls};

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
