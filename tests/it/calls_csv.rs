//! `GET /api/calls/history?format=csv`: the same filters as the JSON history, a
//! download with its file name, RFC 4180 quoting, and caller names that would run
//! as spreadsheet formulas defused.

use crate::common::service::TestService;
use crate::common::wait::{wait_until, DEADLINE};

/// GET with the token: status, Content-Type, Content-Disposition, body text.
async fn get_csv(ts: &TestService, path: &str) -> (u16, String, String, String) {
    let mut res = ts
        .authed()
        .get(ts.url(path))
        .send()
        .await
        .expect("an answer");
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (ct, cd) = (header("content-type"), header("content-disposition"));
    let body = res.body().limit(16 << 20).await.expect("the body");
    (
        res.status().as_u16(),
        ct,
        cd,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// Places a call, lets it ring and hangs it up; returns its id once stored.
async fn finished_call(ts: &TestService, from: &str, to: &str, answer: bool) -> String {
    let id = ts.sim.place_call(from, to);
    wait_until("the call to be up", DEADLINE, || async {
        ts.get(&format!("/api/calls/{id}")).await.0 == 200
    })
    .await;
    if answer {
        ts.sim.answer_call(&id);
        wait_until("the answer", DEADLINE, || async {
            ts.get(&format!("/api/calls/{id}")).await.1["data"]["answeredAt"].is_string()
        })
        .await;
    }
    ts.sim.hangup_call(&id);
    id
}

#[actix_rt::test]
async fn the_csv_export_has_the_filtered_calls_quoted_and_defused() {
    let ts = TestService::start().await;
    ts.sim
        .set_extension_name("1003", "=HYPERLINK(\"http://x\",\"click\")");
    let a = finished_call(&ts, "1001", "1002", true).await;
    let b = finished_call(&ts, "1003", "1004", false).await;
    wait_until("both calls stored", DEADLINE, || async {
        ts.get("/api/calls/history").await.1["pagination"]["total"].as_i64() == Some(2)
    })
    .await;

    let (status, ct, cd, body) = get_csv(&ts, "/api/calls/history?format=csv").await;
    assert_eq!(status, 200);
    assert_eq!(ct, "text/csv; charset=utf-8");
    assert!(
        cd.starts_with("attachment; filename=\"calls-") && cd.ends_with(".csv\""),
        "{cd}"
    );
    let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 3, "header and two calls:\n{body}");
    assert!(lines[0].starts_with("id,pbx,startedAt,"), "{}", lines[0]);
    // Newest first, as the JSON history.
    assert!(
        lines[1].starts_with(&format!("{b},default,")),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with(&format!("{a},default,")),
        "{}",
        lines[2]
    );
    assert!(lines[2].contains(",answered,"), "{}", lines[2]);
    // The formula is quoted (it has commas and quotes) and starts with ' inside.
    assert!(
        lines[1].contains(",\"'=HYPERLINK(\"\"http://x\"\",\"\"click\"\")\","),
        "{}",
        lines[1]
    );

    // The same filters as the JSON history.
    let (_, _, _, mine) = get_csv(&ts, "/api/calls/history?format=csv&extension=1001").await;
    let rows: Vec<&str> = mine.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 2, "{mine}");
    assert!(rows[1].starts_with(&a));
    // Search (the formula-named caller, by the start of its name) and outcome.
    let (status, _, _, found) = get_csv(
        &ts,
        "/api/calls/history?format=csv&q=%3DHYPER&direction=internal",
    )
    .await;
    assert_eq!(status, 200, "{found}");
    let rows: Vec<&str> = found.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 2, "{found}");
    assert!(rows[1].starts_with(&b), "{found}");
    let (_, _, _, answered) = get_csv(&ts, "/api/calls/history?format=csv&outcome=answered").await;
    let rows: Vec<&str> = answered.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 2, "{answered}");
    assert!(rows[1].starts_with(&a), "{answered}");

    // A wrong format is a 400 in the API's error shape.
    let (status, body) = ts.get("/api/calls/history?format=xlsx").await;
    assert_eq!(status, 400);
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], "INVALID_QUERY");
    let (status, body) = ts.get("/api/calls/history?format=csv&from=yesterday").await;
    assert_eq!(status, 400, "{body}");
    ts.stop().await;
}
