//! The order of events and resync lists after a reconnect: events the PBX wrote
//! just before the `CoreShowChannels` list (in the same read) must reach the call
//! trackers before the resync decides which calls were lost; an extension event
//! written just after the `ExtensionStateList` must win over the (older) listed state.

use crate::common::pipeline::{start, Setup};
use crate::common::replay::{split, ReplayOptions, ReplayServer};
use crate::common::wait::{wait_until, DEADLINE};
use bytes::Bytes;
use switchboard::actors::messages::Change;
use switchboard::model::AmiConnectionState;

const NEWCHANNEL: &str = "Event: Newchannel\r\nPrivilege: call,all\r\nTimestamp: 1795315726.000000\r\nChannel: PJSIP/1001-00000001\r\nChannelState: 4\r\nChannelStateDesc: Ring\r\nCallerIDNum: 1001\r\nCallerIDName: User 1001\r\nExten: 1002\r\nContext: from-internal\r\nUniqueid: pbx-1.1\r\nLinkedid: pbx-1.1\r\n\r\n";
const IN_USE: &str = "Event: ExtensionStatus\r\nPrivilege: call,all\r\nTimestamp: 1795315730.000000\r\nExten: 1001\r\nContext: from-internal\r\nHint: PJSIP/1001\r\nStatus: 1\r\nStatusText: InUse\r\n\r\n";
const HANGUP: &str = "Event: Hangup\r\nPrivilege: call,all\r\nTimestamp: 1795315729.500000\r\nChannel: PJSIP/1001-00000001\r\nChannelState: 4\r\nChannelStateDesc: Ring\r\nCallerIDNum: 1001\r\nUniqueid: pbx-1.1\r\nLinkedid: pbx-1.1\r\nCause: 16\r\nCause-txt: Normal Clearing\r\n\r\n";

#[actix_rt::test]
async fn a_hangup_read_just_before_the_resync_list_ends_its_call_once() {
    let capture = split(format!("Asterisk Call Manager/11.0.0\r\n{NEWCHANNEL}").as_bytes());
    let server = ReplayServer::start(
        capture,
        ReplayOptions {
            on_reconnect: Some(Bytes::from_static(HANGUP.as_bytes())),
            ..ReplayOptions::default()
        },
    );
    let r = start(Setup::new(server.addr())).await.expect("SQLite");
    let changes = r.collect().await;
    wait_until("the call to be up", DEADLINE, || async {
        r.live_calls().len() == 1
    })
    .await;
    server.drop_sessions();
    wait_until("the reconnect", DEADLINE, || async {
        server.logins_ok() == 2
    })
    .await;
    wait_until("the call to end", DEADLINE, || async {
        r.live_calls().is_empty()
    })
    .await;
    r.quiesce().await;
    let history = r.history();
    assert_eq!(history.len(), 1);
    let call = &history[0];
    assert_eq!(call.hangup_cause, Some(16), "ended by its Hangup");
    assert_ne!(
        call.outcome.map(|o| o.as_str()),
        Some("lostWhileDisconnected")
    );
    assert_eq!(call.duration_secs, 3.5, "from its Newchannel to its Hangup");
    let ended = changes
        .all()
        .iter()
        .filter(|e| matches!(&e.change, Change::CallEnded(c) if c.id == "pbx-1.1"))
        .count();
    assert_eq!(ended, 1, "one call, ended once");
    r.stop().await;
}

#[actix_rt::test]
async fn an_extension_event_read_just_after_the_hint_list_is_not_overwritten_by_it() {
    let server = ReplayServer::start(
        split(b"Asterisk Call Manager/11.0.0\r\n"),
        ReplayOptions {
            hint_then: Some((
                ("1001".to_string(), 0),
                Bytes::from_static(IN_USE.as_bytes()),
            )),
            ..ReplayOptions::default()
        },
    );
    let r = start(Setup::new(server.addr())).await.expect("SQLite");
    r.wait_state(AmiConnectionState::Connected).await;
    wait_until("1001 known", DEADLINE, || async {
        r.live_extensions().contains_key("1001")
    })
    .await;
    r.quiesce().await;
    let live = r.live_extensions();
    assert_eq!(live["1001"].status.0, 1, "the event after the list wins");
    let stored = r
        .service
        .state
        .store
        .get_extension("default", "1001")
        .expect("read the store")
        .expect("1001 stored");
    assert_eq!(stored.status.0, 1, "and is what the store keeps");
    r.stop().await;
}
