//! The history's total is counted up to `HISTORY_COUNT_LIMIT` (issue 17): exact
//! below it, the limit with `totalExact: false` past it, on both backends and
//! through the API; pages go on past the limit.

use switchboard::model::Call;
use switchboard::store::CallHistoryQuery;

use crate::common::service::{Options, TestService};
use crate::common::store::{active_call, finished, t, Kind, TestDb};

/// `n` finished calls a minute apart: 1001 calls 1002, every third one 1003.
fn calls(n: usize) -> Vec<Call> {
    (0..n)
        .map(|i| {
            let callee = if i % 3 == 0 { "1003" } else { "1002" };
            finished(active_call(
                "default",
                &format!("count-{i:04}"),
                "1001",
                callee,
                t(i as i64),
            ))
        })
        .collect()
}

fn counted_up_to_the_limit(kind: Kind) {
    let Some(db) = TestDb::create(kind) else {
        return;
    };
    let store = db.open();
    store.finish_calls(&calls(12)).expect("seed");
    let read = |limit: i64, extension: Option<&str>, offset: i64| {
        let page = store
            .call_history(&CallHistoryQuery {
                extension: extension.map(Into::into),
                count_limit: limit,
                limit: 5,
                offset,
                ..CallHistoryQuery::default()
            })
            .expect("history");
        (page.total, page.total_exact, page.calls.len())
    };
    // Below, at and past the limit, on the calls' path and on a party's.
    assert_eq!(read(13, None, 0), (Some(12), true, 5));
    assert_eq!(read(12, None, 0), (Some(12), true, 5));
    assert_eq!(read(11, None, 0), (Some(11), false, 5));
    assert_eq!(read(3, None, 0), (Some(3), false, 5));
    assert_eq!(read(5, Some("1003"), 0), (Some(4), true, 4));
    assert_eq!(read(3, Some("1003"), 0), (Some(3), false, 4));
    // Past the limit the pages go on, and the count does not depend on the page.
    assert_eq!(read(3, None, 10), (Some(3), false, 2));
    // A cursor page is not counted.
    let page = store
        .call_history(&CallHistoryQuery {
            after: store
                .call_history(&CallHistoryQuery {
                    limit: 5,
                    ..CallHistoryQuery::default()
                })
                .expect("first page")
                .next,
            count_total: false,
            limit: 5,
            ..CallHistoryQuery::default()
        })
        .expect("cursor page");
    assert_eq!((page.total, page.calls.len()), (None, 5));
}

#[test]
fn sqlite_the_total_is_counted_up_to_the_limit() {
    counted_up_to_the_limit(Kind::Sqlite);
}

#[test]
fn postgres_the_total_is_counted_up_to_the_limit() {
    counted_up_to_the_limit(Kind::Postgres);
}

#[actix_rt::test]
async fn the_api_says_when_the_total_is_the_limit() {
    let ts = TestService::with(Options::default().env("HISTORY_COUNT_LIMIT", "5")).await;
    let store = ts.service.state.store.clone();
    store.finish_calls(&calls(4)).expect("seed");
    let (status, body) = ts.get("/api/calls/history?pageSize=2").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pagination"]["total"], 4, "{body}");
    assert_eq!(body["pagination"]["totalExact"], true, "{body}");
    store.finish_calls(&calls(12)).expect("seed more");
    let (_, body) = ts.get("/api/calls/history?pageSize=2").await;
    assert_eq!(body["pagination"]["total"], 5, "{body}");
    assert_eq!(body["pagination"]["totalExact"], false, "{body}");
    assert!(body["pagination"]["next"].is_string(), "{body}");
    // Page 6 lies past the limit and still holds calls 11 and 12.
    let (_, body) = ts.get("/api/calls/history?pageSize=2&page=6").await;
    let ids: Vec<&str> = body["data"]
        .as_array()
        .map(|l| l.iter().filter_map(|c| c["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, ["count-0001", "count-0000"], "{body}");
    assert_eq!(body["pagination"]["totalExact"], false, "{body}");
    // A filter with fewer matches than the limit is counted exactly.
    let (_, body) = ts.get("/api/calls/history?extension=1003").await;
    assert_eq!(body["pagination"]["total"], 4, "{body}");
    assert_eq!(body["pagination"]["totalExact"], true, "{body}");
    ts.stop().await;
}
