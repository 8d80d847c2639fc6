//! Answers to AMI actions: authentication and the read-only queries.
//!
//! Replies copy Asterisk 22 byte for byte (queries / login-idle captures):
//! `Response` then `ActionID` then the rest; event lists answer `EventList: start`,
//! send items carrying the ActionID and no Timestamp, and end with a `...Complete`
//! event with `EventList: Complete` and `ListItems`. Actions that change the PBX are
//! in `control.rs`.

use std::sync::atomic::Ordering;

use rand::Rng;

use super::client::{log_login, login_ok, Reply, Session};
use super::model::{device_state, status_text};
use super::shared::Shared;
use super::wire::{epoch_timestamp, Wire};
use crate::ami::RawMessage;

/// Answers one action.
pub(super) fn handle(shared: &Shared, s: &mut Session, m: &RawMessage) -> Reply {
    let mut w = Wire::new(&shared.cfg.system_name, 512);
    let id = m.get("ActionID");
    let Some(action) = m.get("Action").map(str::to_ascii_lowercase) else {
        w.reply("Error", id, "Missing action in request");
        return Reply {
            wire: w,
            close: false,
        };
    };
    let pre_login = matches!(action.as_str(), "login" | "logoff" | "challenge");
    if !s.logged_in && !pre_login {
        w.reply("Error", id, "Permission denied");
        return Reply {
            wire: w,
            close: false,
        };
    }
    if s.logged_in && !super::permissions::may_run(&shared.cfg, &action) {
        w.reply("Error", id, "Permission denied");
        return Reply {
            wire: w,
            close: false,
        };
    }
    let mut close = false;
    match action.as_str() {
        "login" => close = !login(shared, s, m, &mut w),
        "challenge" => challenge(s, m, &mut w),
        "logoff" => {
            shared.stats.logoffs.fetch_add(1, Ordering::Relaxed);
            w.reply("Goodbye", id, "Thanks for all the fish.");
            close = true;
        }
        "ping" => {
            w.response("Success", id)
                .h("Ping", "Pong")
                .h("Timestamp", &epoch_timestamp())
                .end();
        }
        "events" => events(shared, s, m, &mut w),
        "filter" => super::filter::action(&mut s.filter, m, &mut w),
        "extensionstate" => extension_state(shared, m, &mut w),
        "extensionstatelist" => extension_state_list(shared, id, &mut w),
        "devicestatelist" => device_state_list(shared, id, &mut w),
        "coreshowchannels" => core_show_channels(shared, id, &mut w),
        "status" => status(shared, m, &mut w),
        "pjsipshowendpoint" => super::names::pjsip_show_endpoint(shared, m, &mut w),
        "dbget" => super::names::db_get(m, &mut w),
        "queuestatus" => super::queue_actions::queue_status(shared, m, &mut w),
        "queuesummary" => super::queue_actions::queue_summary(shared, m, &mut w),
        "queuepause" => super::queue_actions::queue_pause(shared, m, &mut w),
        other => {
            if !super::service_queries::answer(other, m, &mut w) {
                super::control::handle(shared, other, m, &mut w);
            }
        }
    }
    Reply { wire: w, close }
}

/// `Login`: on success the reply, then `FullyBooted` (no Timestamp; only for a user
/// that may read `system`, as Asterisk), and the session starts receiving events;
/// false when refused (the caller closes the socket).
fn login(shared: &Shared, s: &mut Session, m: &RawMessage, w: &mut Wire) -> bool {
    let id = m.get("ActionID");
    let ok = login_ok(shared, s, m);
    log_login(ok, m.get("Username").unwrap_or(""), s.peer);
    if !ok {
        shared.stats.logins_failed.fetch_add(1, Ordering::Relaxed);
        w.reply("Error", id, "Authentication failed");
        return false;
    }
    shared.stats.logins_ok.fetch_add(1, Ordering::Relaxed);
    // Subscribe before anything is written so no event between reply and feed is lost.
    if s.events.is_none() {
        s.events = Some(shared.events.subscribe());
    }
    s.logged_in = true;
    let uptime = shared.pbx().started.elapsed().as_secs();
    w.reply("Success", id, "Authentication accepted");
    if !super::permissions::sees_fully_booted(&shared.cfg) {
        return true;
    }
    w.h("Event", "FullyBooted")
        .h("Privilege", "system,all")
        .n("Uptime", uptime as i64)
        .n("LastReload", uptime as i64)
        .h("Status", "Fully Booted")
        .end();
    true
}

/// `Challenge` with `AuthType: MD5`: a random number to hash the secret with.
fn challenge(s: &mut Session, m: &RawMessage, w: &mut Wire) {
    let id = m.get("ActionID");
    let md5 = m
        .get("AuthType")
        .is_some_and(|a| a.eq_ignore_ascii_case("md5"));
    if !md5 {
        w.reply("Error", id, "Must specify AuthType");
        return;
    }
    let challenge = rand::thread_rng()
        .gen_range(100_000_000u64..2_147_483_647)
        .to_string();
    w.response("Success", id).h("Challenge", &challenge).end();
    s.challenge = Some(challenge);
}

/// `Events: on|off` (or an event mask): turns this session's event feed on or off.
fn events(shared: &Shared, s: &mut Session, m: &RawMessage, w: &mut Wire) {
    let mask = m.get("EventMask").unwrap_or("on");
    let off = mask.eq_ignore_ascii_case("off") || mask.eq_ignore_ascii_case("none");
    if off {
        s.events = None;
    } else if s.events.is_none() {
        s.events = Some(shared.events.subscribe());
    }
    w.response("Success", m.get("ActionID"))
        .h("Events", if off { "Off" } else { "On" })
        .end();
}

/// `ExtensionState`: one hint's status; unknown extensions answer Status -1.
fn extension_state(shared: &Shared, m: &RawMessage, w: &mut Wire) {
    let exten = m.get("Exten").unwrap_or("");
    let context = m.get("Context").unwrap_or("default");
    if shared.is_silent(exten) {
        return;
    }
    if shared.is_failing(exten) {
        w.reply(
            "Error",
            m.get("ActionID"),
            "Simulated failure for this extension",
        );
        return;
    }
    let pbx = shared.pbx();
    let found = (context == pbx.context)
        .then(|| pbx.by_number.get(exten))
        .flatten()
        .map(|&i| &pbx.exts[i]);
    let (hint, status) = found.map_or(("", -1), |e| (e.hint.as_str(), e.status));
    w.response("Success", m.get("ActionID"))
        .h("Message", "Extension Status")
        .h("Exten", exten)
        .h("Context", context)
        .h("Hint", hint)
        .n("Status", i64::from(status))
        .h("StatusText", status_text(status))
        .end();
}

/// Writes the end of an event list.
fn complete(w: &mut Wire, name: &str, id: Option<&str>, items: usize) {
    w.list_item(name, id)
        .h("EventList", "Complete")
        .n("ListItems", items as i64)
        .end();
}

/// Writes the start of an event list.
fn list_start(w: &mut Wire, id: Option<&str>, message: &str) {
    w.response("Success", id)
        .h("EventList", "start")
        .h("Message", message)
        .end();
}

/// `ExtensionStateList`: an `ExtensionStatus` item per hint.
fn extension_state_list(shared: &Shared, id: Option<&str>, w: &mut Wire) {
    let pbx = shared.pbx();
    if pbx.exts.is_empty() {
        w.reply("Error", id, "No dialplan hints are available");
        return;
    }
    list_start(w, id, "Extension Statuses will follow");
    let mut items = 0;
    for e in pbx
        .exts
        .iter()
        .filter(|e| !shared.is_failing(&e.number) && !shared.is_silent(&e.number))
    {
        items += 1;
        w.list_item("ExtensionStatus", id)
            .h("Exten", &e.number)
            .h("Context", &pbx.context)
            .h("Hint", &e.hint)
            .n("Status", i64::from(e.status))
            .h("StatusText", status_text(e.status))
            .end();
    }
    complete(w, "ExtensionStateListComplete", id, items);
}

/// `DeviceStateList`: a `DeviceStateChange` item per device.
fn device_state_list(shared: &Shared, id: Option<&str>, w: &mut Wire) {
    let pbx = shared.pbx();
    list_start(w, id, "Device State Changes will follow");
    for e in &pbx.exts {
        w.list_item("DeviceStateChange", id)
            .h("Device", &e.hint)
            .h("State", device_state(e.status))
            .end();
    }
    complete(w, "DeviceStateListComplete", id, pbx.exts.len());
}

/// `HH:MM:SS` of a channel's age.
fn duration(secs: u64) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// `CoreShowChannels`: a `CoreShowChannel` item per live channel.
fn core_show_channels(shared: &Shared, id: Option<&str>, w: &mut Wire) {
    let pbx = shared.pbx();
    list_start(w, id, "Channels will follow");
    let chans = pbx.channels();
    for (ch, bridge) in &chans {
        let app = if ch.state == super::model::ChanState::Up {
            "AppDial"
        } else {
            "Dial"
        };
        w.list_item("CoreShowChannel", id)
            .channel("", ch)
            .h("Application", app)
            .h("ApplicationData", "")
            .h("Duration", &duration(ch.created.elapsed().as_secs()))
            .h("BridgeId", bridge.unwrap_or(""))
            .end();
    }
    complete(w, "CoreShowChannelsComplete", id, chans.len());
}

/// `Status`: a `Status` item per channel (or the one named by `Channel`).
fn status(shared: &Shared, m: &RawMessage, w: &mut Wire) {
    let id = m.get("ActionID");
    let pbx = shared.pbx();
    let wanted = m.get("Channel").filter(|c| !c.is_empty());
    let chans: Vec<_> = pbx
        .channels()
        .into_iter()
        .filter(|(c, _)| wanted.is_none_or(|n| n == c.name))
        .collect();
    if wanted.is_some() && chans.is_empty() {
        w.reply("Error", id, "No such channel");
        return;
    }
    list_start(w, id, "Channel status will follow");
    for (ch, bridge) in &chans {
        w.h("Event", "Status")
            .h("Privilege", "Call")
            .channel("", ch)
            .h("Type", "PJSIP")
            .h("DNID", "")
            .h("EffectiveConnectedLineNum", &ch.conn_num)
            .h("EffectiveConnectedLineName", &ch.conn_name)
            .h("TimeToHangup", "0")
            .h("BridgeID", bridge.unwrap_or(""))
            .h("Application", "Dial")
            .h("Data", "")
            .h("Nativeformats", "(ulaw)")
            .h("Readformat", "ulaw")
            .h("Readtrans", "")
            .h("Writeformat", "ulaw")
            .h("Writetrans", "")
            .h("Callgroup", "0")
            .h("Pickupgroup", "0")
            .n("Seconds", ch.created.elapsed().as_secs() as i64);
        if let Some(id) = id {
            w.h("ActionID", id);
        }
        w.end();
    }
    w.list_item("StatusComplete", id)
        .h("EventList", "Complete")
        .n("ListItems", chans.len() as i64)
        .n("Items", chans.len() as i64)
        .end();
}
