//! The calls-queue capture (a real Asterisk queue session: 8 callers, 6 answered,
//! 2 who gave up, a member paused for "lunch" and back, a member added and
//! removed) replayed over TCP through the whole service: the queues the API
//! answers must be what the capture's last `QueueStatus` says, and today's
//! figures what its events say.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::pipeline::{start, Running, Setup};
use crate::common::replay::{load, Capture, ReplayOptions, ReplayServer};
use serde_json::Value;
use switchboard::ami::{Event, RawMessage};
use switchboard::app::{self, HttpSettings};
use switchboard::delivery::Change;
use switchboard::model::queue::MemberState;
use switchboard::state::queue::QueueBook;

/// A member as the capture's list describes it: name, state word, calls taken,
/// last call (epoch seconds, 0 for never).
type Expected = BTreeMap<String, (String, &'static str, u64, i64)>;

fn items_of(capture: &Capture, prefix: &str, last: bool) -> Vec<RawMessage> {
    let decoded = capture.decoded();
    let ids: Vec<String> = decoded
        .iter()
        .filter_map(|m| m.get("ActionID"))
        .filter(|id| id.starts_with(prefix))
        .map(str::to_string)
        .collect();
    let id = if last { ids.last() } else { ids.first() }
        .cloned()
        .expect("the capture answers the action");
    decoded
        .into_iter()
        .filter(|m| m.get("ActionID") == Some(id.as_str()))
        .collect()
}

/// The state word a supervisor should read for a list item (written out here,
/// apart from the service's own mapping).
fn state_word(status: &str, paused: &str) -> &'static str {
    match (status, paused) {
        ("5" | "4", _) => "unavailable",
        (_, "1") => "paused",
        ("6", _) => "ringing",
        ("1" | "0", _) => "free",
        _ => "onCall",
    }
}

fn expected_members(items: &[RawMessage]) -> Expected {
    items
        .iter()
        .filter(|m| m.get("Event") == Some("QueueMember"))
        .map(|m| {
            let get = |k: &str| m.get(k).unwrap_or("").to_string();
            (
                get("Location"),
                (
                    get("Name"),
                    state_word(&get("Status"), &get("Paused")),
                    get("CallsTaken").parse().expect("a count"),
                    get("LastCall").parse().expect("epoch seconds"),
                ),
            )
        })
        .collect()
}

fn answered_members(queue: &Value) -> Expected {
    queue["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            let last = m["lastCall"].as_str().map_or(0, |t| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .expect("an RFC 3339 time")
                    .timestamp()
            });
            let state = match m["state"].as_str().expect("a state") {
                "free" => "free",
                "ringing" => "ringing",
                "onCall" => "onCall",
                "paused" => "paused",
                "unavailable" => "unavailable",
                other => panic!("unknown member state {other}"),
            };
            (
                m["interface"].as_str().expect("interface").to_string(),
                (
                    m["name"].as_str().expect("name").to_string(),
                    state,
                    m["callsTaken"].as_u64().expect("callsTaken"),
                    last,
                ),
            )
        })
        .collect()
}

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, Value) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let mut res = client
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let body = res.body().await.expect("body");
    (
        res.status().as_u16(),
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

fn http(running: &Running) -> std::net::SocketAddr {
    let http = app::http_server(
        running.service.state.clone(),
        HttpSettings {
            bind: "127.0.0.1:0".parse().expect("loopback"),
            workers: 1,
            shutdown_timeout: 1,
        },
    )
    .expect("bind an ephemeral port");
    let addr = http.addrs[0];
    actix_rt::spawn(http.server);
    addr
}

#[actix_rt::test]
async fn calls_queue_ends_as_the_last_queue_status_says_with_8_offered_6_answered_2_abandoned() {
    let capture = load("calls-queue");
    let last = items_of(&capture, "queuestatus-", true);
    let expected = expected_members(&last);
    assert_eq!(
        expected.len(),
        4,
        "the capture's last list names four members"
    );
    let waiting_at_end = last
        .iter()
        .filter(|m| m.get("Event") == Some("QueueEntry"))
        .count();
    let joins = capture
        .decoded()
        .iter()
        .filter(|m| m.get("Event") == Some("QueueCallerJoin"))
        .count();
    assert_eq!(joins, 8);

    let server = ReplayServer::start(capture.clone(), ReplayOptions::default());
    let running = start(Setup::new(server.addr()))
        .await
        .expect("SQLite is always available");
    let changes = running.collect().await;
    running.settle(capture.events.len() as u64).await;
    let addr = http(&running);

    let (status, list) = get(addr, "/api/queues").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["count"], 1, "{list}");
    let (status, support) = get(addr, "/api/queues/support").await;
    assert_eq!(status, 200, "{support}");
    let q = &support["data"];
    assert_eq!(list["data"][0]["members"], q["members"]);
    assert_eq!(answered_members(q), expected, "members: {q}");
    assert_eq!(
        q["callers"].as_array().expect("callers").len(),
        waiting_at_end
    );
    assert_eq!(q["strategy"], "ringall");
    let today = &q["today"];
    assert_eq!(
        (&today["offered"], &today["answered"], &today["abandoned"]),
        (&Value::from(8), &Value::from(6), &Value::from(2)),
        "{today}"
    );
    // The capture's own count agrees (QueueParams of the last list).
    let params = last
        .iter()
        .find(|m| m.get("Event") == Some("QueueParams"))
        .expect("QueueParams");
    assert_eq!(params.get("Completed"), Some("6"));
    assert_eq!(params.get("Abandoned"), Some("2"));
    // Both callers who gave up had waited 3 s (HoldTime of their QueueCallerAbandon).
    assert_eq!(today["longestAbandonSecs"], 3);
    assert_eq!(
        today["longestWaitSecs"], 7,
        "Caller 8 waited 7 s for Agent 8002"
    );
    assert_eq!(today["answeredWithinSla"], 6);

    let (status, missing) = get(addr, "/api/queues/sales").await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"]["code"], "QUEUE_NOT_FOUND");
    let (status, bad_pbx) = get(addr, "/api/queues?pbx=nowhere").await;
    assert_eq!(status, 404, "{bad_pbx}");
    let (status, bad_param) = get(addr, "/api/queues?colour=red").await;
    assert_eq!(status, 400, "{bad_param}");

    // Subscribers were told as it happened: queue.updated pictures arrived, and
    // the last one is what the API answers now.
    let live: Vec<_> = changes
        .all()
        .iter()
        .filter_map(|e| match &e.change {
            Change::Queue(q) => Some(q.clone()),
            _ => None,
        })
        .collect();
    let last_live = live.last().expect("queue.updated pictures were published");
    let live_members = serde_json::to_value(&last_live.members).expect("serializes");
    assert_eq!(live_members, q["members"], "the last picture is the API's");

    // On the way: Agent 8002 paused for lunch, Agent 8003 added then removed,
    // callers queued up. Checked on the queue book fed the capture event by event:
    // the service publishes one picture per queue per socket read, so which of these
    // passing states reach a subscriber depends on how the stream was cut.
    let mut book = QueueBook::new("default", 20);
    let now = chrono::Utc::now();
    let mut pictures = Vec::new();
    for m in capture.decoded() {
        if m.get("ActionID").is_some() || m.get("Event").is_none() {
            continue;
        }
        let changed = book.apply(&Event::from_raw(m), now);
        pictures.extend(changed.and_then(|name| book.picture(&name, now)));
    }
    let lunch = MemberState::Paused {
        reason: Some("lunch".into()),
    };
    assert!(
        pictures.iter().any(|q| q
            .members
            .iter()
            .any(|m| m.name == "Agent 8002" && m.state == lunch)),
        "the book showed Agent 8002 paused for lunch"
    );
    assert!(pictures.iter().any(|q| q
        .members
        .iter()
        .any(|m| m.name == "Agent 8003" && m.dynamic)));
    assert!(
        pictures.iter().map(|q| q.callers.len()).max() >= Some(4),
        "callers queued up while every agent was busy"
    );
    running.stop().await;
}
