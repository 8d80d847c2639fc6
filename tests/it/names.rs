//! Display names from the PBX: the endpoint's caller ID read after each login (real
//! Asterisk bytes from the `queries` capture, and the simulator), refreshed by a
//! refresh, the admin's names file winning over the PBX, sources that fail handing
//! over to the next, `nameSource` in the API and `?q=` matching names.

use crate::common::pipeline::{start, Setup};
use crate::common::replay::{fixture_path, recorded_reply, split, ReplayOptions, ReplayServer};
use crate::common::service::{Options, TestService};
use crate::common::wait::{wait_until, DEADLINE};
use bytes::{Bytes, BytesMut};
use switchboard::ami::{AmiCodec, Event, Frame, Limits, Response};
use switchboard::config::Config;
use switchboard::model::{AmiConnectionState, NameSource};
use switchboard::state::names::{plan, AstdbTemplate, NameSettings};

/// Every message of `<scenario>.server.ami` carrying ActionID `id`, decoded.
fn captured_answer(scenario: &str, id: &str) -> (Response, Vec<Event>) {
    let raw = std::fs::read(fixture_path(&format!("{scenario}.server.ami"))).expect("fixture");
    let mut codec = AmiCodec::new(Limits::default());
    let mut buf = BytesMut::from(&raw[..]);
    let mut response = None;
    let mut items = Vec::new();
    while let Ok(Some(frame)) = tokio_util::codec::Decoder::decode(&mut codec, &mut buf) {
        let Frame::Message(m) = frame else { continue };
        if m.get("ActionID") != Some(id) {
            continue;
        }
        if m.get("Response").is_some() {
            response = Some(Response::from_raw(m));
        } else {
            items.push(Event::from_raw(m));
        }
    }
    (response.expect("a reply in the capture"), items)
}

#[test]
fn the_captured_endpoint_answer_names_1001() {
    let Err(queries) = plan(&NameSettings::default(), "pbx", "1001", Some("PJSIP/1001")) else {
        panic!("no names file: the endpoint is asked");
    };
    assert_eq!(queries.len(), 1);
    assert_eq!(queries[0].action.name(), "PJSIPShowEndpoint");
    let (response, items) = captured_answer("queries", "pjsipshowendpoint-14");
    assert_eq!(
        items.len(),
        4,
        "EndpointDetail, AuthDetail, AorDetail, Complete"
    );
    let name = queries[0].read(&response, &items).expect("a name");
    assert_eq!(name.name, "User 1001");
    assert_eq!(name.source, NameSource::PbxEndpoint);
}

#[test]
fn a_module_that_is_not_loaded_answers_no_name() {
    // chan_sip is gone from Asterisk 22: an action of it gets this same error.
    let Err(queries) = plan(&NameSettings::default(), "pbx", "1001", Some("SIP/1001")) else {
        panic!("the peer is asked");
    };
    assert_eq!(queries[0].action.name(), "SIPshowpeer");
    let (response, items) = captured_answer("queries", "foobarnosuchaction-33");
    assert!(response
        .message()
        .is_some_and(|m| m.starts_with("Invalid/unknown command")));
    assert_eq!(queries[0].read(&response, &items), None);
    // The IAX2 peer list has no caller ID; the CLI's `iax2 show peer` is asked.
    let Err(iax) = plan(&NameSettings::default(), "pbx", "7", Some("IAX2/iaxloop")) else {
        panic!("the peer is asked");
    };
    assert_eq!(iax[0].action.get("Command"), Some("iax2 show peer iaxloop"));
}

#[actix_rt::test]
async fn the_replayed_endpoint_answer_names_the_extension_after_login() {
    let server = ReplayServer::start(
        split(b"Asterisk Call Manager/11.0.0\r\n"),
        ReplayOptions {
            hint_then: Some((("1001".to_string(), 0), Bytes::new())),
            canned: vec![(
                "pjsipshowendpoint".to_string(),
                recorded_reply("queries", "pjsipshowendpoint-14"),
            )],
            ..ReplayOptions::default()
        },
    );
    let r = start(Setup::new(server.addr())).await.expect("SQLite");
    r.wait_state(AmiConnectionState::Connected).await;
    wait_until("1001 named", DEADLINE, || async {
        r.live_extensions()
            .get("1001")
            .is_some_and(|e| e.name.is_some())
    })
    .await;
    let e = &r.live_extensions()["1001"];
    assert_eq!(e.name.as_deref(), Some("User 1001"));
    assert_eq!(e.name_source, Some(NameSource::PbxEndpoint));
    r.quiesce().await;
    let stored = r
        .service
        .state
        .store
        .get_extension("default", "1001")
        .expect("read the store")
        .expect("1001 stored");
    assert_eq!(
        stored.name.as_deref(),
        Some("User 1001"),
        "the store keeps it"
    );
    r.stop().await;
}

async fn names_of(ts: &TestService) -> Vec<(String, String, String)> {
    let (_, body) = ts.get("/api/extensions").await;
    body["data"]
        .as_array()
        .expect("list")
        .iter()
        .map(|e| {
            (
                e["extension"].as_str().unwrap_or("").to_string(),
                e["name"].as_str().unwrap_or("").to_string(),
                e["nameSource"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

async fn wait_named(ts: &TestService, n: usize) {
    wait_until("every extension named", DEADLINE, || async {
        let names = names_of(ts).await;
        names.len() == n && names.iter().all(|(_, name, _)| !name.is_empty())
    })
    .await;
}

#[actix_rt::test]
async fn the_simulator_names_every_extension_and_q_finds_names() {
    let ts = TestService::start().await;
    wait_named(&ts, 50).await;
    for (exten, name, source) in names_of(&ts).await {
        assert_eq!(name, format!("User {exten}"));
        assert_eq!(source, "pbx_endpoint");
    }
    let (status, found) = ts.get("/api/extensions?q=user%201007").await;
    assert_eq!(status, 200);
    let list = found["data"].as_array().expect("list");
    assert_eq!(list.len(), 1, "{found}");
    assert_eq!(list[0]["extension"], "1007");

    // A client connecting now gets the names in its first snapshot.
    let mut ws = ts.ws("/ws").await;
    let snapshot = ws.next_json().await;
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    let exts = snapshot["data"]["extensions"]
        .as_array()
        .expect("extensions");
    let e1001 = exts
        .iter()
        .find(|e| e["extension"] == "1001")
        .expect("1001 in the snapshot");
    assert_eq!(e1001["name"], "User 1001");
    assert_eq!(e1001["nameSource"], "pbx_endpoint");
    ws.close().await;

    // Renamed on the PBX: a refresh reads the new name and publishes it.
    ts.sim.set_extension_name("1002", "Front Desk");
    let (status, _) = ts.post("/api/extensions/hybrid-refresh").await;
    assert_eq!(status, 200);
    wait_until("the new name", DEADLINE, || async {
        ts.extension("1002").await["name"] == "Front Desk"
    })
    .await;
    let (_, found) = ts.get("/api/extensions?q=front").await;
    assert_eq!(found["data"][0]["extension"], "1002");
    ts.stop().await;
}

#[actix_rt::test]
async fn the_names_file_wins_and_a_missing_astdb_entry_hands_over() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("names.txt");
    std::fs::write(
        &file,
        "# front office\n1001 = Reception\ndefault/1003 = Sales, EMEA\nother/1004 = Not here\n",
    )
    .expect("write names");
    let ts = TestService::with(
        Options::default()
            .env("NAMES_FILE", file.display().to_string())
            .env("NAMES_ASTDB", "AMPUSER/{exten}/cidname"),
    )
    .await;
    wait_named(&ts, 50).await;
    let names = names_of(&ts).await;
    let of = |x: &str| {
        names
            .iter()
            .find(|(e, _, _)| e == x)
            .map(|(_, n, s)| (n.clone(), s.clone()))
            .expect("listed")
    };
    assert_eq!(of("1001"), ("Reception".into(), "names_file".into()));
    assert_eq!(of("1003"), ("Sales, EMEA".into(), "names_file".into()));
    // Another PBX's line does not apply; the simulator has no AstDB entry, so the
    // endpoint's caller ID wins.
    assert_eq!(of("1004"), ("User 1004".into(), "pbx_endpoint".into()));
    ts.stop().await;
}

#[test]
fn a_bad_names_file_stops_the_start_with_its_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("names.txt");
    std::fs::write(&file, "1001 = ok\n1002 no equals sign\n").expect("write");
    let path = file.display().to_string();
    let err =
        Config::from_lookup(|k| (k == "NAMES_FILE").then(|| path.clone())).expect_err("refused");
    assert!(err.to_string().contains("line 2"), "{err}");
    let err = Config::from_lookup(|k| (k == "NAMES_ASTDB").then(|| "AMPUSER".to_string()))
        .expect_err("refused");
    assert!(err.to_string().contains("NAMES_ASTDB"), "{err}");
    assert!(AstdbTemplate::parse("AMPUSER/{exten}/cidname").is_some());
}
