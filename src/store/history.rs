//! The finished-call history query: every filter, the order and the paging, in
//! one place.
//!
//! Each page is a walk down an index in the order the API answers (newest first,
//! then id, then PBX: a total order), never a sort of every match:
//! - without `extension`: `calls_started_at_id (started_at, id, pbx)`;
//!   or, with `queue`, `outcome` or `direction`, the index led by that column
//!   (the database picks; each is in the same order);
//! - with `extension` or `number`: `call_parties`' key `(extension, started_at,
//!   call_id, pbx)`, joined to `calls` by its primary key;
//! - with `search` (`?q=`): `call_search`'s key `(term, started_at, call_id,
//!   pbx)` the same way; with a party too, the party's range, each row checked
//!   by one lookup of `call_search`'s key.
//!
//! Filters on the call's own columns go in [`call_filters!`] (on the walked
//! table's PBX column) and [`call_only_filters!`] (columns only `calls` has);
//! the time range and the cursor go in [`page_by!`], on the columns of the index
//! the path walks.
//! `tests/it/store_query_plans.rs` checks both backends' plans.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::bounded_count::CountOf;
use super::connection::DbConnection;
use super::history_cursor::HistoryCursor;
use super::models::{direction_text, search_key, to_db_time, CallRow, LegRow};
use super::schema::{call_parties as parties, call_search as search, calls};
use crate::config::DEFAULT_HISTORY_COUNT_LIMIT;
use crate::model::{CallOutcome, Direction};

/// Which finished calls to list: every filter is optional; newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallHistoryQuery {
    /// Only calls on this PBX.
    pub pbx: Option<String>,
    /// Only calls this extension took part in (as caller, callee or any leg).
    pub extension: Option<String>,
    /// Only calls with a party of exactly this number (caller, callee or a
    /// leg's extension); read only when `extension` is not set.
    pub number: Option<String>,
    /// Only calls whose caller's or callee's number or name, or a word of the
    /// name, starts with this text, letter case aside (see `call_search`).
    pub search: Option<String>,
    /// Only calls that ended this way.
    pub outcome: Option<CallOutcome>,
    /// Only calls in this direction.
    pub direction: Option<Direction>,
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
    /// Count the matches (cursor pages skip it), up to `count_limit`.
    pub count_total: bool,
    /// Matches counted at most: past it the total is this limit and not exact.
    /// A count walks the page's own index, so it costs about what reading this
    /// many matches does, however many there are in all.
    pub count_limit: i64,
}

impl Default for CallHistoryQuery {
    fn default() -> Self {
        Self {
            pbx: None,
            extension: None,
            number: None,
            search: None,
            outcome: None,
            direction: None,
            from: None,
            to: None,
            queue: None,
            after: None,
            limit: 50,
            offset: 0,
            count_total: true,
            count_limit: DEFAULT_HISTORY_COUNT_LIMIT,
        }
    }
}

impl CallHistoryQuery {
    /// The party `call_parties` is read for: the extension, else the number.
    fn party(&self) -> Option<&str> {
        self.extension.as_deref().or(self.number.as_deref())
    }

    /// Whether a filter needs `calls`' own columns (so a count joins `calls`).
    fn filters_call_columns(&self) -> bool {
        self.queue.is_some() || self.outcome.is_some() || self.direction.is_some()
    }
}

/// A page of finished calls with their legs.
#[derive(Debug)]
pub struct HistoryPage {
    /// The calls, newest first, each with its legs in order.
    pub calls: Vec<(CallRow, Vec<LegRow>)>,
    /// How many calls match in all, when counted: at most the query's
    /// `count_limit`.
    pub total: Option<i64>,
    /// Whether `total` is every match (false when the count stopped at the
    /// limit).
    pub total_exact: bool,
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

/// Filters on columns only `calls` has (queue, outcome, direction): applied
/// where `calls` is in the query, so a keyed path counts through the join when
/// one is set.
macro_rules! call_only_filters {
    ($query:expr, $q:expr) => {{
        let mut query = $query;
        if let Some(queue) = &$q.queue {
            query = query.filter(calls::queue.eq(queue.clone()));
        }
        if let Some(outcome) = $q.outcome {
            query = query.filter(calls::outcome.eq(outcome.as_str()));
        }
        if let Some(direction) = $q.direction {
            query = query.filter(calls::direction.eq(direction_text(direction)));
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

/// What [`run`] is asked for: the page, or the plans the database would use;
/// or, for a deep numbered page, the key of the last call it skips (see
/// [`key_at`]), or that key query's plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Rows,
    Plan,
    Key,
    KeyPlan,
}

/// What [`run`] answers.
enum Answer {
    /// The matching calls in order (no legs yet), and the matches counted (up
    /// to one past the limit) when counted.
    Rows(Vec<CallRow>, Option<i64>),
    /// The plans of the count (when counted) and of the page, one line per step.
    Plan(Vec<String>),
    /// The key of the last call a deep page skips (`None`: the offset is past
    /// the last match).
    Key(Option<HistoryCursor>),
    /// The path cannot read the keys from its index alone: skip by `OFFSET`.
    NoKey,
}

/// The key of the call `offset - 1` rows down the path, read from the path's
/// index alone (`$keys`: the filtered key columns' query). A numbered page
/// then continues from it like a cursor page, so the rows it skips are never
/// joined to `calls` (with a plain `OFFSET` each skipped row was).
macro_rules! key_at {
    ($conn:expr, $q:expr, $want:expr, $keys:expr, $order:expr, $columns:expr) => {{
        let key = || {
            $keys()
                .order($order)
                .limit(1)
                .offset($q.offset.max(1) - 1)
                .select($columns)
        };
        match $want {
            Want::KeyPlan => Ok(Answer::Plan(super::explain::plan_of($conn, key())?)),
            _ => {
                let found = key()
                    .get_result::<(NaiveDateTime, String, String)>($conn)
                    .optional()?;
                Ok(Answer::Key(found.map(|(started_at, id, pbx)| {
                    HistoryCursor {
                        started_at,
                        id,
                        pbx,
                    }
                })))
            }
        }
    }};
}

/// Runs (or explains) the count and the page of the query's path. `$filtered`
/// builds the filtered query afresh each time (boxed queries are not `Clone`).
/// The count reads the matches in the page's order, one past the limit at most
/// (`SELECT COUNT(*) FROM (SELECT 1 … ORDER BY … LIMIT limit + 1)`): the same
/// index walk as the page, stopped early, instead of a count of every match.
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
        let count = || {
            CountOf(
                $counted()
                    .order($order)
                    .limit($q.count_limit.max(0).saturating_add(1))
                    .select(diesel::dsl::sql::<diesel::sql_types::Integer>("1")),
            )
        };
        match $want {
            Want::Rows => {
                let total = match $q.count_total {
                    true => Some(count().get_result::<i64>($conn)?),
                    false => None,
                };
                // A page of no rows (a deep page's count alone) needs no query.
                let rows = match limit {
                    0 => Vec::new(),
                    _ => page().load($conn)?,
                };
                Ok(Answer::Rows(rows, total))
            }
            Want::Plan => {
                let mut plan = Vec::new();
                if $q.count_total {
                    plan.extend(super::explain::plan_of($conn, count())?);
                }
                plan.extend(super::explain::plan_of($conn, page())?);
                Ok(Answer::Plan(plan))
            }
            Want::Key | Want::KeyPlan => Ok(Answer::NoKey),
        }
    }};
}

/// The path of a key table (`call_parties` or `call_search`: the same shape)
/// read for one key, joined to `calls`. The count reads the key table alone
/// (index-only) unless a filter needs `calls`' columns.
macro_rules! keyed_path {
    ($conn:expr, $q:expr, $want:expr, $k:ident, $key:ident, $value:expr) => {{
        let value: String = $value;
        let filtered = || {
            let joined = $k::table
                .inner_join(calls::table.on(calls::id.eq($k::call_id).and(calls::pbx.eq($k::pbx))))
                .filter($k::$key.eq(value.clone()))
                .into_boxed::<Db>();
            let query = call_filters!(joined, $q, $k::pbx);
            let query = call_only_filters!(query, $q);
            page_by!(query, $q, $k::started_at, $k::call_id, $k::pbx)
        };
        let order = ($k::started_at.desc(), $k::call_id.desc(), $k::pbx.desc());
        let count_from = || {
            let keys = $k::table
                .filter($k::$key.eq(value.clone()))
                .into_boxed::<Db>();
            let query = call_filters!(keys, $q, $k::pbx);
            page_by!(query, $q, $k::started_at, $k::call_id, $k::pbx)
        };
        let key_columns = ($k::started_at, $k::call_id, $k::pbx);
        match ($q.filters_call_columns(), $want) {
            (true, _) => count_and_page!($conn, $q, $want, filtered, filtered, order),
            (false, Want::Key | Want::KeyPlan) => {
                key_at!($conn, $q, $want, count_from, order, key_columns)
            }
            (false, _) => count_and_page!($conn, $q, $want, count_from, filtered, order),
        }
    }};
}

/// The query's path: the calls indexes without a key, else the key's table.
fn run(conn: &mut DbConnection, q: &CallHistoryQuery, want: Want) -> QueryResult<Answer> {
    let term = q.search.as_deref().map(search_key);
    match (q.party(), term) {
        (None, None) => {
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
            // Each filter of this path has an index holding the key columns.
            let key_columns = (calls::started_at, calls::id, calls::pbx);
            match want {
                Want::Key | Want::KeyPlan => key_at!(conn, q, want, filtered, order, key_columns),
                _ => count_and_page!(conn, q, want, filtered, filtered, order),
            }
        }
        (Some(party), None) => keyed_path!(conn, q, want, parties, extension, party.to_string()),
        (None, Some(term)) => keyed_path!(conn, q, want, search, term, term),
        (Some(party), Some(term)) => {
            let filtered = || {
                let joined = parties::table
                    .inner_join(
                        search::table.on(search::term
                            .eq(term.clone())
                            .and(search::started_at.eq(parties::started_at))
                            .and(search::call_id.eq(parties::call_id))
                            .and(search::pbx.eq(parties::pbx))),
                    )
                    .inner_join(
                        calls::table.on(calls::id
                            .eq(parties::call_id)
                            .and(calls::pbx.eq(parties::pbx))),
                    )
                    .filter(parties::extension.eq(party.to_string()))
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
            count_and_page!(conn, q, want, filtered, filtered, order)
        }
    }
}

/// How a numbered page is read.
enum Skip {
    /// By `OFFSET` (a first page, a cursor page, or a path without a key index).
    Offset,
    /// From the key of the last call it skips, like a cursor page.
    After(HistoryCursor),
    /// The offset is past the last match: the page is empty.
    PastEnd,
}

fn skip(conn: &mut DbConnection, q: &CallHistoryQuery) -> QueryResult<Skip> {
    if q.offset <= 0 || q.after.is_some() || q.limit <= 0 {
        return Ok(Skip::Offset);
    }
    Ok(match run(conn, q, Want::Key)? {
        Answer::Key(Some(key)) => Skip::After(key),
        Answer::Key(None) => Skip::PastEnd,
        _ => Skip::Offset,
    })
}

/// `q` read as the cursor page after `key`, uncounted.
fn continued(q: &CallHistoryQuery, key: HistoryCursor) -> CallHistoryQuery {
    CallHistoryQuery {
        after: Some(key),
        offset: 0,
        count_total: false,
        ..q.clone()
    }
}

/// `q`'s count alone (a page of no rows beside it).
fn count_only(q: &CallHistoryQuery) -> CallHistoryQuery {
    CallHistoryQuery {
        limit: 0,
        offset: 0,
        ..q.clone()
    }
}

fn rows_of(answer: Answer) -> QueryResult<(Vec<CallRow>, Option<i64>)> {
    match answer {
        Answer::Rows(rows, counted) => Ok((rows, counted)),
        _ => Err(diesel::result::Error::NotFound),
    }
}

fn lines_of(answer: Answer) -> Vec<String> {
    match answer {
        Answer::Plan(lines) => lines,
        _ => Vec::new(),
    }
}

/// A page of finished calls (newest first) with their legs.
pub fn history(conn: &mut DbConnection, q: &CallHistoryQuery) -> QueryResult<HistoryPage> {
    let (rows, counted) = match skip(conn, q)? {
        Skip::Offset => rows_of(run(conn, q, Want::Rows)?)?,
        skip => {
            let counted = match q.count_total {
                true => rows_of(run(conn, &count_only(q), Want::Rows)?)?.1,
                false => None,
            };
            let rows = match skip {
                Skip::After(key) => rows_of(run(conn, &continued(q, key), Want::Rows)?)?.0,
                _ => Vec::new(),
            };
            (rows, counted)
        }
    };
    let limit = q.count_limit.max(0);
    let total = counted.map(|n| n.min(limit));
    let total_exact = counted.is_none_or(|n| n <= limit);
    let full = q.limit > 0 && rows.len() as i64 == q.limit;
    let next = rows.last().filter(|_| full).map(HistoryCursor::after);
    let legs = super::calls::legs_of(conn, &rows)?;
    Ok(HistoryPage {
        calls: rows.into_iter().zip(legs).collect(),
        total,
        total_exact,
        next,
    })
}

/// The plans the database picks for the query's count and page, one line per
/// step (SQLite `EXPLAIN QUERY PLAN` details, PostgreSQL `EXPLAIN` lines): the
/// count's first, when counted. A deep numbered page read from its key plans
/// the key's query and then the cursor page from that key.
pub fn plan(conn: &mut DbConnection, q: &CallHistoryQuery) -> QueryResult<Vec<String>> {
    let key = match skip(conn, q)? {
        Skip::After(key) => key,
        Skip::Offset | Skip::PastEnd => return Ok(lines_of(run(conn, q, Want::Plan)?)),
    };
    let mut lines = Vec::new();
    if q.count_total {
        let count = count_only(q);
        let mut whole = lines_of(run(conn, &count, Want::Plan)?);
        let page = lines_of(run(
            conn,
            &CallHistoryQuery {
                count_total: false,
                ..count
            },
            Want::Plan,
        )?);
        whole.truncate(whole.len().saturating_sub(page.len()));
        lines.extend(whole);
    }
    lines.extend(lines_of(run(conn, q, Want::KeyPlan)?));
    lines.extend(lines_of(run(conn, &continued(q, key), Want::Plan)?));
    Ok(lines)
}
