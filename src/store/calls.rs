//! Queries on calls: live ones in `active_calls`, finished ones in `calls` and
//! `call_legs`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::call_terms;
use super::connection::{with_backend, DbConnection};
use super::models::{
    to_db_time, ActiveCallRow, CallRow, LegRow, NewActiveCall, NewCall, NewLeg, NewParty,
    NewSearchTerm, TermSource,
};
use super::schema::{
    active_calls as ac, call_legs as legs, call_parties as parties, call_search as search, calls,
};
use crate::model::Call;

/// A finished call's row with its legs, in order.
pub type CallWithLegs = (CallRow, Vec<LegRow>);

/// Rows per statement: far below both backends' bind-parameter limits.
const INSERT_CHUNK: usize = 1000;

/// Inserts or overwrites live calls. `list` must not name the same call twice
/// (see [`super::ops::latest_by_key`]).
pub fn upsert_active_many(
    conn: &mut DbConnection,
    list: &[&Call],
    now: DateTime<Utc>,
) -> QueryResult<()> {
    let now = to_db_time(now);
    match conn {
        DbConnection::Pg(c) => {
            for chunk in list.chunks(INSERT_CHUNK) {
                let rows = chunk
                    .iter()
                    .map(|call| NewActiveCall::encode(call, now))
                    .collect::<QueryResult<Vec<_>>>()?;
                diesel::insert_into(ac::table)
                    .values(&rows)
                    .on_conflict((ac::pbx, ac::id))
                    .do_update()
                    .set((
                        ac::state.eq(excluded(ac::state)),
                        ac::direction.eq(excluded(ac::direction)),
                        ac::caller_number.eq(excluded(ac::caller_number)),
                        ac::callee_number.eq(excluded(ac::callee_number)),
                        ac::started_at.eq(excluded(ac::started_at)),
                        ac::updated_at.eq(excluded(ac::updated_at)),
                        ac::data.eq(excluded(ac::data)),
                    ))
                    .execute(c)?;
            }
        }
        // `REPLACE`, prepared once per connection (see `extensions::upsert_many`):
        // the row carries every column and no foreign key points at this table.
        DbConnection::Sqlite(c) => {
            for call in list {
                diesel::replace_into(ac::table)
                    .values(&NewActiveCall::encode(call, now)?)
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

/// Live calls (of one PBX, or all), oldest first.
pub fn list_active(conn: &mut DbConnection, pbx: Option<&str>) -> QueryResult<Vec<ActiveCallRow>> {
    let mut query = ac::table.select(ActiveCallRow::as_select()).into_boxed();
    if let Some(pbx) = pbx {
        query = query.filter(ac::pbx.eq(pbx));
    }
    query.order((ac::started_at, ac::id)).load(conn)
}

/// A live call by id (on one PBX, or the first PBX that has it).
pub fn get_active(
    conn: &mut DbConnection,
    pbx: Option<&str>,
    id: &str,
) -> QueryResult<Option<ActiveCallRow>> {
    let mut query = ac::table
        .filter(ac::id.eq(id))
        .select(ActiveCallRow::as_select())
        .into_boxed();
    if let Some(pbx) = pbx {
        query = query.filter(ac::pbx.eq(pbx));
    }
    query.order(ac::pbx).first(conn).optional()
}

/// Call ids grouped by PBX, in chunks small enough for one statement each
/// (finishing calls here, pruning them in `retention`).
pub(super) fn ids_by_pbx<'a>(
    keys: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<(&'a str, Vec<&'a str>)> {
    let mut groups: Vec<(&'a str, Vec<&'a str>)> = Vec::new();
    for (pbx, id) in keys {
        match groups
            .iter_mut()
            .find(|(p, ids)| *p == pbx && ids.len() < INSERT_CHUNK)
        {
            Some((_, ids)) => ids.push(id),
            None => groups.push((pbx, vec![id])),
        }
    }
    groups
}

/// Deletes these stored finished calls with everything that goes with them: their
/// legs and parties (no foreign key ties those to the call on PostgreSQL, see the
/// `legs_parties_unlinked` migration) and their search terms (no foreign key on
/// either backend, see [`call_terms`]). Returns how many calls and legs went. Replacing a
/// call here and pruning it in `retention` both come through this;
/// [`finish_each_sqlite`] does the same call by call.
pub(super) fn delete_stored(
    conn: &mut DbConnection,
    stored: &[TermSource],
) -> QueryResult<(usize, usize)> {
    let (mut deleted_calls, mut deleted_legs) = (0, 0);
    let keys = stored.iter().map(|c| (c.pbx.as_str(), c.id.as_str()));
    for (pbx, ids) in &ids_by_pbx(keys) {
        deleted_legs +=
            diesel::delete(legs::table.filter(legs::pbx.eq(pbx).and(legs::call_id.eq_any(ids))))
                .execute(conn)?;
        diesel::delete(
            parties::table.filter(parties::pbx.eq(pbx).and(parties::call_id.eq_any(ids))),
        )
        .execute(conn)?;
        deleted_calls +=
            diesel::delete(calls::table.filter(calls::pbx.eq(pbx).and(calls::id.eq_any(ids))))
                .execute(conn)?;
    }
    call_terms::delete_terms(conn, stored)?;
    Ok((deleted_calls, deleted_legs))
}

/// Moves calls to history: replaces any earlier copy of each (so finishing twice
/// is harmless; what goes with the earlier copy goes by [`delete_stored`]) and
/// removes them from the live calls. `list` must not name the same call twice.
/// Run inside a transaction.
pub fn finish_many(conn: &mut DbConnection, list: &[&Call]) -> QueryResult<()> {
    if let DbConnection::Sqlite(c) = conn {
        return finish_each_sqlite(c, list);
    }
    for (pbx, ids) in ids_by_pbx(list.iter().map(|c| (c.pbx.as_str(), c.id.as_str()))) {
        diesel::delete(ac::table.filter(ac::pbx.eq(pbx).and(ac::id.eq_any(&ids)))).execute(conn)?;
        let stored: Vec<TermSource> = calls::table
            .filter(calls::pbx.eq(pbx).and(calls::id.eq_any(&ids)))
            .select(TermSource::as_select())
            .load(conn)?;
        delete_stored(conn, &stored)?;
    }
    for chunk in list.chunks(INSERT_CHUNK) {
        let rows = chunk
            .iter()
            .map(|call| NewCall::encode(call))
            .collect::<QueryResult<Vec<_>>>()?;
        // Multi-row VALUES is outside the MultiConnection subset (diesel inserts
        // row by row on SQLite), so the insert is built per backend.
        with_backend!(&mut *conn, c => diesel::insert_into(calls::table).values(&rows).execute(c))?;
    }
    let all_legs: Vec<NewLeg<'_>> = list.iter().flat_map(|call| NewLeg::all_of(call)).collect();
    for chunk in all_legs.chunks(INSERT_CHUNK) {
        with_backend!(&mut *conn, c => diesel::insert_into(legs::table).values(chunk).execute(c))?;
    }
    let all_parties: Vec<NewParty<'_>> = list
        .iter()
        .flat_map(|call| NewParty::all_of(call))
        .collect();
    for chunk in all_parties.chunks(INSERT_CHUNK) {
        with_backend!(&mut *conn, c => diesel::insert_into(parties::table).values(chunk).execute(c))?;
    }
    let all_terms: Vec<NewSearchTerm<'_>> = list
        .iter()
        .flat_map(|call| NewSearchTerm::all_of(call))
        .collect();
    for chunk in all_terms.chunks(INSERT_CHUNK) {
        with_backend!(&mut *conn, c => diesel::insert_into(search::table).values(chunk).execute(c))?;
    }
    Ok(())
}

/// [`finish_many`] on SQLite, call by call (the deletes of [`delete_stored`] with
/// `=` instead of `IN`): each statement names one call, so it
/// is prepared once per connection and reused (an `IN (…)` list or a multi-row
/// `VALUES` has a new text for every size and is parsed again every batch). A
/// call never stored finished (nearly all) costs one key lookup instead of the
/// deletes of an earlier copy.
fn finish_each_sqlite(c: &mut diesel::SqliteConnection, list: &[&Call]) -> QueryResult<()> {
    let mut terms = Vec::new();
    for call in list {
        let (pbx, id) = (call.pbx.as_str(), call.id.as_str());
        diesel::delete(ac::table.filter(ac::pbx.eq(pbx).and(ac::id.eq(id)))).execute(c)?;
        // Loaded, not `.first()`: with its bound `LIMIT ?` SQLite prepared the
        // statement again at every execution, once per finished call
        // (docs/PERFORMANCE.md, "The writer per pass").
        let stored = calls::table
            .filter(calls::id.eq(id).and(calls::pbx.eq(pbx)))
            .select(TermSource::as_select())
            .load(c)?
            .pop();
        if let Some(stored) = stored {
            diesel::delete(legs::table.filter(legs::pbx.eq(pbx).and(legs::call_id.eq(id))))
                .execute(c)?;
            diesel::delete(
                parties::table.filter(parties::pbx.eq(pbx).and(parties::call_id.eq(id))),
            )
            .execute(c)?;
            diesel::delete(calls::table.filter(calls::pbx.eq(pbx).and(calls::id.eq(id))))
                .execute(c)?;
            call_terms::delete_terms_sqlite(c, &stored)?;
        }
        diesel::insert_into(calls::table)
            .values(&NewCall::encode(call)?)
            .execute(c)?;
        for leg in NewLeg::all_of(call) {
            diesel::insert_into(legs::table).values(&leg).execute(c)?;
        }
        for party in NewParty::all_of(call) {
            diesel::insert_into(parties::table)
                .values(&party)
                .execute(c)?;
        }
        terms.extend(NewSearchTerm::all_of(call));
    }
    // After every call's deletes: an earlier copy's terms are gone by now.
    call_terms::insert_terms_sqlite(c, terms)
}

/// How one stored call left a queue: enough to count a day's queue figures again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueWait {
    /// The PBX.
    pub pbx: String,
    /// The queue.
    pub queue: String,
    /// Seconds waited until answered or given up (`None`: left otherwise).
    pub wait_secs: Option<u64>,
    /// The caller gave up.
    pub abandoned: bool,
}

/// Every finished call that went through a queue and started at or after `from`.
pub fn queue_waits_since(
    conn: &mut DbConnection,
    from: DateTime<Utc>,
) -> QueryResult<Vec<QueueWait>> {
    let rows: Vec<(String, Option<String>, Option<i64>, bool)> = calls::table
        .filter(calls::queue.is_not_null())
        .filter(calls::started_at.ge(to_db_time(from)))
        .select((
            calls::pbx,
            calls::queue,
            calls::queue_wait_secs,
            calls::queue_abandoned,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(pbx, queue, wait, abandoned)| {
            Some(QueueWait {
                pbx,
                queue: queue?,
                wait_secs: wait.and_then(|w| u64::try_from(w).ok()),
                abandoned,
            })
        })
        .collect())
}

/// Legs of the given calls, in order, grouped by call.
pub(super) fn legs_of(conn: &mut DbConnection, rows: &[CallRow]) -> QueryResult<Vec<Vec<LegRow>>> {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut all: Vec<LegRow> = legs::table
        .filter(legs::call_id.eq_any(&ids))
        .order((legs::pbx, legs::call_id, legs::position))
        .select(LegRow::as_select())
        .load(conn)?;
    let mut grouped = Vec::with_capacity(rows.len());
    for row in rows {
        let (mine, rest): (Vec<LegRow>, Vec<LegRow>) = all
            .into_iter()
            .partition(|l| l.pbx == row.pbx && l.call_id == row.id);
        all = rest;
        grouped.push(mine);
    }
    Ok(grouped)
}

/// A finished call by id (on one PBX, or the first PBX that has it), with legs.
pub fn get_finished(
    conn: &mut DbConnection,
    pbx: Option<&str>,
    id: &str,
) -> QueryResult<Option<CallWithLegs>> {
    let mut query = calls::table
        .filter(calls::id.eq(id))
        .select(CallRow::as_select())
        .into_boxed();
    if let Some(pbx) = pbx {
        query = query.filter(calls::pbx.eq(pbx));
    }
    let Some(row) = query.order(calls::pbx).first(conn).optional()? else {
        return Ok(None);
    };
    let legs = legs_of(conn, std::slice::from_ref(&row))?
        .pop()
        .unwrap_or_default();
    Ok(Some((row, legs)))
}
