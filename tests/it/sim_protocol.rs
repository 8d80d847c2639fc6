//! The simulator speaks AMI like Asterisk 22: login, queries, event lists, actions.

use crate::common::sim_client::{quiet_sim, Client};
use switchboard::ami::AmiMessage;

#[tokio::test]
async fn banner_then_plain_login_then_fully_booted() {
    let sim = quiet_sim();
    let mut c = Client::connect(sim.addr()).await;
    assert_eq!(c.banner, "Asterisk Call Manager/11.0.0");
    let r = c.login("admin", "amisecret").await;
    assert_eq!(r.get("Response"), Some("Success"));
    assert_eq!(r.get("Message"), Some("Authentication accepted"));
    let booted = c.wait_event("FullyBooted", |_| true).await;
    assert_eq!(booted.get("Status"), Some("Fully Booted"));
    assert!(booted.get("Uptime").is_some());
    assert!(booted.get("Timestamp").is_none());
    assert_eq!(sim.stats().logins_ok, 1);
}

#[tokio::test]
async fn md5_challenge_login() {
    let sim = quiet_sim();
    let mut c = Client::connect(sim.addr()).await;
    let r = c.login_md5("admin", "amisecret").await;
    assert_eq!(r.get("Message"), Some("Authentication accepted"));
    let mut bad = Client::connect(sim.addr()).await;
    let r = bad.login_md5("admin", "wrong").await;
    assert_eq!(r.get("Message"), Some("Authentication failed"));
    assert!(bad.sees_eof().await);
}

#[tokio::test]
async fn wrong_secret_is_refused_and_the_socket_closed() {
    let sim = quiet_sim();
    let mut c = Client::connect(sim.addr()).await;
    let r = c.login("admin", "not-the-secret").await;
    assert_eq!(r.get("Response"), Some("Error"));
    assert_eq!(r.get("Message"), Some("Authentication failed"));
    assert!(c.sees_eof().await);
    assert_eq!(sim.stats().logins_failed, 1);
}

#[tokio::test]
async fn actions_before_login_are_denied_and_the_socket_stays_open() {
    let sim = quiet_sim();
    let mut c = Client::connect(sim.addr()).await;
    let r = c.ask("Ping", &[]).await;
    assert_eq!(r.get("Response"), Some("Error"));
    assert_eq!(r.get("Message"), Some("Permission denied"));
    let r = c.login("admin", "amisecret").await;
    assert_eq!(r.get("Response"), Some("Success"));
}

#[tokio::test]
async fn ping_answers_pong_with_a_timestamp_and_echoes_the_action_id() {
    let sim = quiet_sim();
    let mut c = Client::connect(sim.addr()).await;
    c.login("admin", "amisecret").await;
    let id = c.send("Ping", &[]).await;
    let r = c.reply(&id).await;
    assert_eq!(r.get("ActionID"), Some(id.as_str()));
    assert_eq!(r.get("Ping"), Some("Pong"));
    assert!(r.get("Timestamp").is_some_and(|t| t.parse::<f64>().is_ok()));
}

#[tokio::test]
async fn extension_state_list_has_every_hint_and_a_complete_with_list_items() {
    let sim = quiet_sim();
    let mut c = Client::connect(sim.addr()).await;
    c.login("admin", "amisecret").await;
    let (first, items, done) = c.list("ExtensionStateList", &[]).await;
    assert_eq!(first.get("EventList"), Some("start"));
    assert_eq!(items.len(), 50);
    assert!(items
        .iter()
        .all(|m| m.get("Event") == Some("ExtensionStatus") && m.get("Timestamp").is_none()));
    assert_eq!(items[0].get("Exten"), Some("1001"));
    assert_eq!(items[0].get("Hint"), Some("PJSIP/1001"));
    assert_eq!(done.get("Event"), Some("ExtensionStateListComplete"));
    assert_eq!(done.get("ListItems"), Some("50"));
    let (_, devices, done) = c.list("DeviceStateList", &[]).await;
    assert_eq!(devices.len(), 50);
    assert_eq!(done.get("ListItems"), Some("50"));
}

#[tokio::test]
async fn extension_state_follows_set_extension_state() {
    let sim = quiet_sim();
    let mut c = Client::connect(sim.addr()).await;
    c.login("admin", "amisecret").await;
    sim.set_extension_state("1005", 4);
    let ev = c
        .wait_event("ExtensionStatus", |m| m.get("Exten") == Some("1005"))
        .await;
    assert_eq!(ev.get("Status"), Some("4"));
    assert!(ev.get("Timestamp").is_some());
    assert_eq!(ev.get("SystemName"), Some("simpbx"));
    let r = c
        .ask(
            "ExtensionState",
            &[("Exten", "1005"), ("Context", "from-internal")],
        )
        .await;
    assert_eq!(r.get("Message"), Some("Extension Status"));
    assert_eq!(r.get("Hint"), Some("PJSIP/1005"));
    assert_eq!(r.get("Status"), Some("4"));
    assert_eq!(r.get("StatusText"), Some("Unavailable"));
    assert_eq!(sim.snapshot().extensions["1005"], 4);
}

#[tokio::test]
async fn core_show_channels_lists_a_placed_call() {
    let sim = quiet_sim();
    let mut c = Client::connect(sim.addr()).await;
    c.login("admin", "amisecret").await;
    let id = sim.place_call("1001", "1002");
    let (_, items, done) = c.list("CoreShowChannels", &[]).await;
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|m| m.get("Linkedid") == Some(id.as_str())));
    assert_eq!(done.get("ListItems"), Some("2"));
    let snap = sim.snapshot();
    assert_eq!(snap.extensions["1002"], 8);
    assert_eq!(snap.calls.len(), 1);
    sim.answer_call(&id);
    assert_eq!(sim.snapshot().extensions["1002"], 1);
    c.wait_event("DialEnd", |m| m.get("DialStatus") == Some("ANSWER"))
        .await;
    sim.hangup_call(&id);
    c.wait_event("Hangup", |m| m.get("Uniqueid") == Some(id.as_str()))
        .await;
    let snap = sim.snapshot();
    assert!(snap.calls.is_empty());
    assert_eq!(snap.finished.get("answered"), Some(&1));
    assert_eq!(snap.extensions["1001"], 0);
}

#[tokio::test]
async fn originate_is_queued_then_answered_by_an_originate_response() {
    let sim = quiet_sim();
    let mut c = Client::connect(sim.addr()).await;
    c.login("admin", "amisecret").await;
    let id = c
        .send(
            "Originate",
            &[
                ("Channel", "PJSIP/1003"),
                ("Context", "from-internal"),
                ("Exten", "1004"),
                ("Async", "true"),
            ],
        )
        .await;
    let r = c.reply(&id).await;
    assert_eq!(r.get("Message"), Some("Originate successfully queued"));
    let ev = c
        .wait_event("OriginateResponse", |m| {
            m.get("ActionID") == Some(id.as_str())
        })
        .await;
    assert_eq!(ev.get("Response"), Some("Success"));
    let uid = ev.get("Uniqueid").unwrap().to_string();
    assert!(sim.snapshot().calls.iter().any(|call| call.linkedid == uid));
    let r = c.ask("Originate", &[("Exten", "1004")]).await;
    assert_eq!(r.get("Message"), Some("Channel not specified"));
}

#[tokio::test]
async fn unknown_action_is_an_error() {
    let sim = quiet_sim();
    let mut c = Client::connect(sim.addr()).await;
    c.login("admin", "amisecret").await;
    let r = c.ask("FooBarNoSuchAction", &[]).await;
    assert_eq!(r.get("Response"), Some("Error"));
    assert_eq!(
        r.get("Message"),
        Some("Invalid/unknown command: FooBarNoSuchAction. Use Action: ListCommands to show available commands.")
    );
}

#[tokio::test]
async fn user_event_and_command() {
    let sim = quiet_sim();
    let mut c = Client::connect(sim.addr()).await;
    c.login("admin", "amisecret").await;
    let id = c
        .send("UserEvent", &[("UserEvent", "Hello"), ("Payload", "a: b")])
        .await;
    assert_eq!(c.reply(&id).await.get("Message"), Some("Event Sent"));
    let ev = c.wait_event("UserEvent", |_| true).await;
    assert_eq!(ev.get("UserEvent"), Some("Hello"));
    assert_eq!(ev.get("ActionID"), Some(id.as_str()));
    assert_eq!(ev.get("Payload"), Some("a: b"));
    let r = c.ask("Command", &[("Command", "core show version")]).await;
    assert_eq!(r.get("Message"), Some("Command output follows"));
    assert!(r.get("Output").is_some_and(|o| o.starts_with("Asterisk")));
    let r = c.ask("Command", &[("Command", "core show uptime")]).await;
    assert!(r
        .get("Output")
        .is_some_and(|o| o.starts_with("System uptime:")));
    let r = c
        .ask("Command", &[("Command", "no such cli command")])
        .await;
    assert_eq!(r.get("Response"), Some("Error"));
}

#[tokio::test]
async fn logoff_says_goodbye_and_closes() {
    let sim = quiet_sim();
    let mut c = Client::connect(sim.addr()).await;
    c.login("admin", "amisecret").await;
    let r = c.ask("Logoff", &[]).await;
    assert_eq!(r.get("Response"), Some("Goodbye"));
    assert_eq!(r.get("Message"), Some("Thanks for all the fish."));
    assert!(c.sees_eof().await);
}

#[tokio::test]
async fn generated_events_classify_as_events() {
    let sim = quiet_sim();
    let mut c = Client::connect(sim.addr()).await;
    c.login("admin", "amisecret").await;
    c.wait_event("FullyBooted", |_| true).await;
    sim.burst(2_000);
    let mut n = 0;
    while n < 2_000 {
        let m = c.next().await;
        match AmiMessage::classify(m) {
            Ok(AmiMessage::Event(e)) => {
                assert!(e.timestamp().is_some(), "{} has no Timestamp", e.name());
                n += 1;
            }
            other => panic!("not an event: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_pbx_without_hints_answers_the_list_with_an_error() {
    let sim = crate::common::sim_client::sim_with(switchboard::sim::SimConfig {
        rate: 0.0,
        extensions: 0,
        ..Default::default()
    });
    let mut c = Client::connect(sim.addr()).await;
    c.login("admin", "amisecret").await;
    let r = c.ask("ExtensionStateList", &[]).await;
    assert_eq!(r.get("Response"), Some("Error"));
    assert_eq!(r.get("Message"), Some("No dialplan hints are available"));
}
