//! Answers to AMI actions that change the PBX or run commands: `Originate`,
//! `Hangup`, `UserEvent`, `Command`, `ListCommands`, and the error for the rest.
//!
//! Their events go through the shared broadcast (after this session's reply, since a
//! session writes its reply before it reads the feed again), like Asterisk's
//! `OriginateResponse` that follows `Originate successfully queued`.

use super::model::{Party, Plan};
use super::shared::Shared;
use super::wire::Wire;
use crate::ami::RawMessage;

/// Answers the actions not handled in `actions.rs`; `action` is lower-case.
pub(super) fn handle(shared: &Shared, action: &str, m: &RawMessage, w: &mut Wire) {
    let id = m.get("ActionID");
    match action {
        "originate" => originate(shared, m, w),
        "hangup" => hangup(shared, m, w),
        "userevent" => user_event(shared, m, w),
        "command" => command(shared, m, w),
        "listcommands" => list_commands(id, w),
        _ => {
            let name = m.get("Action").unwrap_or("");
            w.reply(
                "Error",
                id,
                &format!("Invalid/unknown command: {name}. Use Action: ListCommands to show available commands."),
            );
        }
    }
}

/// The local extension a dial string such as `PJSIP/1001` or `1001` names.
fn local_ext(shared: &Shared, dial: &str) -> Option<String> {
    let number = dial.rsplit('/').next().unwrap_or(dial);
    let number = number.split(['@', '-']).next().unwrap_or(number);
    shared
        .pbx()
        .by_number
        .contains_key(number)
        .then(|| number.to_string())
}

/// `Originate Channel=PJSIP/<ext> Exten=<number>`: a call from that extension to the
/// number, answered by `OriginateResponse` Success; a channel that is not a local
/// extension gives `OriginateResponse` Failure.
fn originate(shared: &Shared, m: &RawMessage, w: &mut Wire) {
    let id = m.get("ActionID");
    let Some(channel) = m.get("Channel").filter(|c| !c.is_empty()) else {
        w.reply("Error", id, "Channel not specified");
        return;
    };
    w.reply("Success", id, "Originate successfully queued");
    let exten = m.get("Exten").unwrap_or("").to_string();
    let context = m.get("Context").unwrap_or("").to_string();
    let from = local_ext(shared, channel);
    shared.with_pbx(|pbx| {
        pbx.wire.stamp();
        let (chan, uid, num, name, ok) = match (&from, exten.is_empty()) {
            (Some(f), false) => {
                let caller = Party::Ext(pbx.by_number[f.as_str()]);
                let callee = match pbx.by_number.get(&exten) {
                    Some(&i) => Party::Ext(i),
                    None => Party::Outside(exten.clone()),
                };
                let linkedid = pbx.start_call(caller, callee, Plan::Answer, false);
                let call = pbx.call_index(&linkedid).map(|i| &pbx.calls[i]);
                match call {
                    Some(c) => (
                        c.a.name.clone(),
                        c.a.uniqueid.clone(),
                        c.a.cid_num.clone(),
                        c.a.cid_name.clone(),
                        true,
                    ),
                    None => (
                        channel.to_string(),
                        "<unknown>".into(),
                        "<unknown>".into(),
                        "<unknown>".into(),
                        false,
                    ),
                }
            }
            _ => (
                channel.to_string(),
                "<unknown>".into(),
                "<unknown>".into(),
                "<unknown>".into(),
                false,
            ),
        };
        pbx.wire.event("OriginateResponse", "call,all");
        if let Some(id) = id {
            pbx.wire.h("ActionID", id);
        }
        pbx.wire
            .h("Response", if ok { "Success" } else { "Failure" })
            .h("Channel", &chan)
            .h("Context", &context)
            .h("Exten", &exten)
            .h("Reason", if ok { "4" } else { "0" })
            .h("Uniqueid", &uid)
            .h("CallerIDNum", &num)
            .h("CallerIDName", &name)
            .end();
    });
}

/// `Hangup Channel=<name>`: ends the call that channel belongs to.
fn hangup(shared: &Shared, m: &RawMessage, w: &mut Wire) {
    let id = m.get("ActionID");
    let Some(channel) = m.get("Channel").filter(|c| !c.is_empty()) else {
        w.reply("Error", id, "No channel specified");
        return;
    };
    let found = shared.with_pbx(|pbx| {
        let idx = pbx
            .calls
            .iter()
            .position(|c| c.a.name == channel || c.b.as_ref().is_some_and(|b| b.name == channel))?;
        let ender_a = pbx.calls[idx].a.name == channel;
        pbx.advance(idx, |p, call| Some(p.hangup_call(call, ender_a)));
        Some(())
    });
    match found {
        Some(()) => w.reply("Success", id, "Channel Hungup"),
        None => w.reply("Error", id, "No such channel"),
    }
}

/// `UserEvent`: `Event Sent`, then `Event: UserEvent` with the action's headers.
fn user_event(shared: &Shared, m: &RawMessage, w: &mut Wire) {
    let id = m.get("ActionID");
    let Some(name) = m.get("UserEvent") else {
        w.reply("Error", id, "Missing UserEvent");
        return;
    };
    w.reply("Success", id, "Event Sent");
    shared.with_pbx(|pbx| {
        pbx.wire.stamp();
        pbx.wire.event("UserEvent", "user,all").h("UserEvent", name);
        for (k, v) in m.iter() {
            if !k.eq_ignore_ascii_case("Action") && !k.eq_ignore_ascii_case("UserEvent") {
                pbx.wire.h(k, v);
            }
        }
        pbx.wire.end();
    });
}

/// `1 hour, 2 minutes, 3 seconds`, as the CLI prints durations.
fn cli_duration(secs: u64) -> String {
    let mut parts = Vec::new();
    for (n, unit) in [
        (secs / 86_400, "day"),
        (secs / 3600 % 24, "hour"),
        (secs / 60 % 60, "minute"),
        (secs % 60, "second"),
    ] {
        if n > 0 || (unit == "second" && parts.is_empty()) {
            parts.push(format!("{n} {unit}{}", if n == 1 { "" } else { "s" }));
        }
    }
    parts.join(", ")
}

/// `Command`: a few CLI commands; others answer Asterisk's `No such command` error.
fn command(shared: &Shared, m: &RawMessage, w: &mut Wire) {
    let id = m.get("ActionID");
    let cmd = m.get("Command").unwrap_or("").trim().to_string();
    let lines: Vec<String> = match cmd.to_ascii_lowercase().as_str() {
        "core show version" => vec!["Asterisk 22.10.1 (switchboard PBX simulator)".to_string()],
        "core show uptime" => {
            let up = shared.pbx().started.elapsed().as_secs();
            vec![
                format!("System uptime: {}", cli_duration(up)),
                format!("Last reload: {}", cli_duration(up)),
            ]
        }
        "core show channels" => {
            let pbx = shared.pbx();
            let chans = pbx.channels();
            let mut out = vec![
                "Channel              Location             State   Application(Data)".to_string(),
            ];
            out.extend(chans.iter().map(|(c, _)| {
                format!(
                    "{:<20} {}@{}:1 {:<7} Dial",
                    c.name,
                    c.exten,
                    c.context,
                    c.state.desc()
                )
            }));
            out.push(format!("{} active channels", chans.len()));
            out.push(format!("{} active calls", pbx.calls.len()));
            out
        }
        "core restart now" | "core restart gracefully" => {
            // Asterisk never answers this one: the sessions get Shutdown and close.
            shared.restart();
            return;
        }
        _ => {
            let help: Vec<&str> = cmd.split_whitespace().take(2).collect();
            w.response("Error", id)
                .h("Message", "Command output follows")
                .h("Output", &format!("No such command '{cmd}' (type 'core show help {}' for other possible commands)", help.join(" ")))
                .end();
            return;
        }
    };
    w.response("Success", id)
        .h("Message", "Command output follows");
    for line in &lines {
        w.h("Output", line);
    }
    w.end();
}

/// `ListCommands`: the actions this simulator answers.
fn list_commands(id: Option<&str>, w: &mut Wire) {
    w.response("Success", id);
    for (name, what, privilege) in [
        ("Challenge", "Generate Challenge for MD5 Auth.", "<none>"),
        ("Command", "Execute Asterisk CLI Command.", "command,all"),
        (
            "CoreShowChannels",
            "List currently active channels.",
            "system,reporting,all",
        ),
        (
            "DeviceStateList",
            "List the current known device states.",
            "call,reporting,all",
        ),
        ("Events", "Control Event Flow.", "<none>"),
        (
            "ExtensionState",
            "Check Extension Status.",
            "call,reporting,all",
        ),
        (
            "ExtensionStateList",
            "List the current known extension states.",
            "call,reporting,all",
        ),
        ("Hangup", "Hangup channel.", "system,call,all"),
        ("ListCommands", "List available manager commands.", "<none>"),
        ("Login", "Login Manager.", "<none>"),
        ("Logoff", "Logoff Manager.", "<none>"),
        ("Originate", "Originate a call.", "originate,all"),
        ("Ping", "Keepalive command.", "<none>"),
        (
            "Status",
            "List channel status.",
            "system,call,reporting,all",
        ),
        ("UserEvent", "Send an arbitrary event.", "user,all"),
    ] {
        w.h(name, &format!("{what}  (Priv: {privilege})"));
    }
    w.end();
}
