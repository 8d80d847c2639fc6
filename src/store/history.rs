//! The finished-call history query: every filter, the order and the paging, in
//! one place.
//!
//! Each page is a walk down an index in the order the API answers (newest first,
//! then id, then PBX: a total order), never a sort of every match:
//! - without `extension`: `calls_started_at_id (started_at, id, pbx)`;
//! - with `extension`: `call_parties`' key `(extension, started_at, call_id, pbx)`,
//!   joined to `calls` by its primary key.
//!
//! Filters on the call's own columns that no index leads with (the PBX, and any
//! added later) go in [`call_filters!`], which both paths apply; the time range
//! and the cursor go in [`page_by!`], on the columns of the index the path walks.
//! `tests/it/store_query_plans.rs` checks both backends' plans.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::connection::DbConnection;
use super::models::{to_db_time, CallRow, LegRow};
use super::schema::{call_parties as parties, calls};

/// Which finished calls to list: every filter is optional; newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallHistoryQuery {
    /// Only calls on this PBX.
    pub pbx: Option<String>,
    /// Only calls this extension took part in (as caller, callee or any leg).
    pub extension: Option<String>,
    /// Only calls that started at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only calls that started at or before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Only calls that went through this queue.
    pub queue: Option<String>,
    /// Only calls after this one in the history's order (the previous page's
    /// last call): a deep page costs what the first one does.
    pub after: Option<HistoryCursor>,
    /// Page size.
    pub limit: i64,
    /// Calls to skip (page × size); 0 with a cursor.
    pub offset: i64,
    /// Count every match (an index-only count, but over all of them); cursor
    /// pages skip it.
    pub count_total: bool,
}

impl Default for CallHistoryQuery {
    fn default() -> Self {
        Self {
            pbx: None,
            extension: None,
            from: None,
            to: None,
            queue: None,
            after: None,
            limit: 50,
            offset: 0,
            count_total: true,
        }
    }
}

/// A place in the history's order: the last call of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCursor {
    /// The call's start, as stored (microseconds).
    pub started_at: NaiveDateTime,
    /// The call's id.
    pub id: String,
    /// The call's PBX.
    pub pbx: String,
}

impl HistoryCursor {
    /// The cursor that continues after `row`.
    fn after(row: &CallRow) -> Self {
        Self {
            started_at: row.started_at,
            id: row.id.clone(),
            pbx: row.pbx.clone(),
        }
    }

    /// The opaque text clients pass back as `?after=`: hex, so it needs no
    /// escaping in a URL whatever the id and PBX name hold.
    pub fn encode(&self) -> String {
        let micros = self.started_at.and_utc().timestamp_micros();
        let plain = format!("{micros}\n{}\n{}", self.pbx, self.id);
        plain.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads [`HistoryCursor::encode`]'s text; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        if text.len() % 2 != 0 || text.len() > 2048 {
            return None;
        }
        let bytes = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        let plain = String::from_utf8(bytes).ok()?;
        let mut parts = plain.splitn(3, '\n');
        let micros: i64 = parts.next()?.parse().ok()?;
        let pbx = parts.next()?.to_string();
        let id = parts.next()?.to_string();
        let started_at = DateTime::<Utc>::from_timestamp_micros(micros)?.naive_utc();
        Some(Self {
            started_at,
            id,
            pbx,
        })
    }
}

/// A page of finished calls with their legs.
#[derive(Debug)]
pub struct HistoryPage {
    /// The calls, newest first, each with its legs in order.
    pub calls: Vec<(CallRow, Vec<LegRow>)>,
    /// How many calls match in all, when counted.
    pub total: Option<i64>,
    /// Where the next page starts, when this one is full.
    pub next: Option<HistoryCursor>,
}

type Db = <DbConnection as Connection>::Backend;

/// Filters other than the extension and the time range, for both paths (`$q`:
/// the query; `$pbx`: the PBX column of the table the path walks). The
/// extension path counts from `call_parties` alone: a filter on a column only
/// `calls` has must join `calls` into that count too (`count_from` in [`run`]).
macro_rules! call_filters {
    ($query:expr, $q:expr, $pbx:expr) => {{
        let mut query = $query;
        if let Some(pbx) = &$q.pbx {
            query = query.filter($pbx.eq(pbx.clone()));
        }
        query
    }};
}

/// Filters on columns only `calls` has (the queue): applied where `calls` is in
/// the query, so the extension path counts through the join when one is set.
macro_rules! call_only_filters {
    ($query:expr, $q:expr) => {{
        let mut query = $query;
        if let Some(queue) = &$q.queue {
            query = query.filter(calls::queue.eq(queue.clone()));
        }
        query
    }};
}

/// The time range and the cursor, on the columns of the index the path walks.
macro_rules! page_by {
    ($query:expr, $q:expr, $started:expr, $id:expr, $pbx:expr) => {{
        let mut query = $query;
        if let Some(from) = $q.from {
            query = query.filter($started.ge(to_db_time(from)));
        }
        if let Some(to) = $q.to {
            query = query.filter($started.le(to_db_time(to)));
        }
        if let Some(c) = &$q.after {
            let at = c.started_at;
            // The `<=` bound alone is what an index range uses; the rest orders ties.
            query = query.filter($started.le(at)).filter(
                $started
                    .lt(at)
                    .or($started.eq(at).and($id.lt(c.id.clone())))
                    .or($started
                        .eq(at)
                        .and($id.eq(c.id.clone()))
                        .and($pbx.lt(c.pbx.clone()))),
            );
        }
        query
    }};
}

/// What [`run`] is asked for: the page, or the plans the database would use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Rows,
    Plan,
}

/// What [`run`] answers.
enum Answer {
    /// The matching calls in order (no legs yet), and the total when counted.
    Rows(Vec<CallRow>, Option<i64>),
    /// The plans of the count (when counted) and of the page, one line per step.
    Plan(Vec<String>),
}

/// Runs (or explains) the count and the page of the query's path. `$filtered`
/// builds the filtered query afresh each time (boxed queries are not `Clone`).
macro_rules! count_and_page {
    ($conn:expr, $q:expr, $want:expr, $counted:expr, $filtered:expr, $order:expr) => {{
        let (limit, offset) = ($q.limit.max(0), $q.offset.max(0));
        let page = || {
            $filtered()
                .order($order)
                .limit(limit)
                .offset(offset)
                .select(CallRow::as_select())
        };
        match $want {
            Want::Rows => {
                let total = match $q.count_total {
                    true => Some($counted().count().get_result($conn)?),
                    false => None,
                };
                Ok(Answer::Rows(page().load($conn)?, total))
            }
            Want::Plan => {
                let mut plan = Vec::new();
                if $q.count_total {
                    plan.extend(super::explain::plan_of($conn, $counted().count())?);
                }
                plan.extend(super::explain::plan_of($conn, page())?);
                Ok(Answer::Plan(plan))
            }
        }
    }};
}

/// The query's path: the calls index without `extension`, `call_parties` with it.
fn run(conn: &mut DbConnection, q: &CallHistoryQuery, want: Want) -> QueryResult<Answer> {
    match &q.extension {
        None => {
            let filtered = || {
                let query = call_filters!(calls::table.into_boxed::<Db>(), q, calls::pbx);
                let query = call_only_filters!(query, q);
                page_by!(query, q, calls::started_at, calls::id, calls::pbx)
            };
            let order = (
                calls::started_at.desc(),
                calls::id.desc(),
                calls::pbx.desc(),
            );
            count_and_page!(conn, q, want, filtered, filtered, order)
        }
        Some(exten) => {
            let filtered = || {
                let joined = parties::table
                    .inner_join(
                        calls::table.on(calls::id
                            .eq(parties::call_id)
                            .and(calls::pbx.eq(parties::pbx))),
                    )
                    .filter(parties::extension.eq(exten.clone()))
                    .into_boxed::<Db>();
                let query = call_filters!(joined, q, parties::pbx);
                let query = call_only_filters!(query, q);
                page_by!(
                    query,
                    q,
                    parties::started_at,
                    parties::call_id,
                    parties::pbx
                )
            };
            let order = (
                parties::started_at.desc(),
                parties::call_id.desc(),
                parties::pbx.desc(),
            );
            // The count needs no call row: an index-only range of call_parties.
            let count_from = || {
                let keys = parties::table
                    .filter(parties::extension.eq(exten.clone()))
                    .into_boxed::<Db>();
                let query = call_filters!(keys, q, parties::pbx);
                page_by!(
                    query,
                    q,
                    parties::started_at,
                    parties::call_id,
                    parties::pbx
                )
            };
            if q.queue.is_some() {
                count_and_page!(conn, q, want, filtered, filtered, order)
            } else {
                count_and_page!(conn, q, want, count_from, filtered, order)
            }
        }
    }
}

/// A page of finished calls (newest first) with their legs.
pub fn history(conn: &mut DbConnection, q: &CallHistoryQuery) -> QueryResult<HistoryPage> {
    let Answer::Rows(rows, total) = run(conn, q, Want::Rows)? else {
        return Err(diesel::result::Error::NotFound);
    };
    let full = q.limit > 0 && rows.len() as i64 == q.limit;
    let next = rows.last().filter(|_| full).map(HistoryCursor::after);
    let legs = super::calls::legs_of(conn, &rows)?;
    Ok(HistoryPage {
        calls: rows.into_iter().zip(legs).collect(),
        total,
        next,
    })
}

/// The plans the database picks for the query's count and page, one line per
/// step (SQLite `EXPLAIN QUERY PLAN` details, PostgreSQL `EXPLAIN` lines).
pub fn plan(conn: &mut DbConnection, q: &CallHistoryQuery) -> QueryResult<Vec<String>> {
    match run(conn, q, Want::Plan)? {
        Answer::Plan(lines) => Ok(lines),
        Answer::Rows(..) => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_cursor_reads_back_as_it_was(
            micros in -62_000_000_000_000_000i64..200_000_000_000_000_000i64,
            id in "\\PC{0,40}",
            pbx in "\\PC{0,20}",
        ) {
            let started_at = DateTime::<Utc>::from_timestamp_micros(micros)
                .map(|t| t.naive_utc());
            prop_assume!(started_at.is_some());
            let cursor = HistoryCursor { started_at: started_at.unwrap_or_default(), id, pbx };
            prop_assert_eq!(HistoryCursor::decode(&cursor.encode()), Some(cursor));
        }

        #[test]
        fn any_text_decodes_or_is_refused_without_panicking(text in "\\PC{0,200}") {
            let _ = HistoryCursor::decode(&text);
        }
    }

    #[test]
    fn malformed_cursors_are_refused() {
        for text in ["", "0", "zz", "31", "310a", "ff0a0a"] {
            assert_eq!(HistoryCursor::decode(text), None, "{text:?}");
        }
    }
}
