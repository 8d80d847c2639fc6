//! What a restricted manager account changes, as Asterisk 22 does it: an action
//! whose class the user's `write =` lacks answers `Permission denied` (the
//! login-monitor capture), an event whose classes the user's `read =` does not
//! all cover never reaches the session, and with `timestampevents = no` events
//! carry no `Timestamp:`. The settings are in [`super::settings`].

use bytes::{BufMut, Bytes, BytesMut};

use super::settings::{Class, Classes, SimConfig};

/// The `write =` classes an action is registered with in Asterisk; any one of
/// them lets the user run it (Asterisk checks `writeperm & authority`), and
/// none means anyone logged in may. `action` is lower-case.
pub(super) fn action_needs(action: &str) -> Classes {
    use Class::*;
    match action {
        "extensionstate" | "extensionstatelist" | "devicestatelist" => {
            Classes::of(&[Call, Reporting])
        }
        "coreshowchannels" => Classes::of(&[System, Reporting]),
        "status" => Classes::of(&[System, Call, Reporting]),
        "originate" => Classes::of(&[Originate, Call]),
        "hangup" => Classes::of(&[System, Call]),
        "userevent" => Classes::of(&[User]),
        "command" => Classes::of(&[Command]),
        "pjsipshowendpoint" | "filter" => Classes::of(&[System]),
        _ => Classes::NONE,
    }
}

/// Whether the configured user may run `action` (lower-case).
pub(super) fn may_run(cfg: &SimConfig, action: &str) -> bool {
    let needs = action_needs(action);
    needs == Classes::NONE || cfg.write.meets(needs)
}

/// Whether the user receives `FullyBooted` at login (Asterisk sends it only to
/// users that may read `system`).
pub(super) fn sees_fully_booted(cfg: &SimConfig) -> bool {
    cfg.read.has(Class::System)
}

/// Whether sessions see the shared event chunks untouched (the default account):
/// the hot path then writes them as they are.
pub(super) fn sees_everything(cfg: &SimConfig) -> bool {
    cfg.read == Classes::ALL && cfg.timestamps
}

/// The classes an event's `Privilege:` value names (`call,all` → call).
fn privilege_classes(value: &[u8]) -> Classes {
    let text = String::from_utf8_lossy(value);
    let classes: Vec<Class> = text.split(',').filter_map(Class::from_word).collect();
    Classes::of(&classes)
}

/// What of an event chunk (whole messages, each ending in a blank line) this
/// account sees: events whose every class `read =` covers, without their
/// `Timestamp:` line when timestamps are off.
pub(super) fn visible(cfg: &SimConfig, chunk: Bytes) -> Bytes {
    if sees_everything(cfg) {
        return chunk;
    }
    let mut out = BytesMut::with_capacity(chunk.len());
    let mut rest: &[u8] = &chunk;
    while !rest.is_empty() {
        let end = find(rest, b"\r\n\r\n").map_or(rest.len(), |i| i + 4);
        let (message, tail) = rest.split_at(end);
        rest = tail;
        let lines = || {
            message
                .split(|b| *b == b'\n')
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                .filter(|l| !l.is_empty())
        };
        let privilege = lines().find_map(|l| l.strip_prefix(b"Privilege: "));
        if privilege.is_some_and(|p| !cfg.read.covers(privilege_classes(p))) {
            continue;
        }
        for line in lines() {
            if !cfg.timestamps && line.starts_with(b"Timestamp: ") {
                continue;
            }
            out.put_slice(line);
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"\r\n");
    }
    out.freeze()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(read: &str, write: &str, timestamps: bool) -> SimConfig {
        SimConfig {
            read: read.parse().expect("classes"),
            write: write.parse().expect("classes"),
            timestamps,
            ..SimConfig::default()
        }
    }

    #[test]
    fn the_monitor_user_of_the_capture() {
        let monitor = account("call,agent,reporting,system,user", "reporting", true);
        for (action, allowed) in [
            ("originate", false),
            ("command", false),
            ("coreshowchannels", true),
            ("extensionstate", true),
            ("ping", true),
            ("queuestatus", true),
            ("filter", false),
            ("pjsipshowendpoint", false),
        ] {
            assert_eq!(may_run(&monitor, action), allowed, "{action}");
        }
        assert!(sees_fully_booted(&monitor));
        assert!(!sees_fully_booted(&account("call", "all", true)));
    }

    const CHUNK: &[u8] =
        b"Event: Newchannel\r\nPrivilege: call,all\r\nTimestamp: 1.000001\r\nChannel: a\r\n\r\n\
Event: UserEvent\r\nPrivilege: user,all\r\nTimestamp: 1.000002\r\n\r\n\
Event: Cdr\r\nPrivilege: cdr,all\r\nTimestamp: 1.000003\r\n\r\n";

    #[test]
    fn events_outside_read_are_dropped_and_timestamps_stripped() {
        let everything = account("all", "all", true);
        assert_eq!(&visible(&everything, Bytes::from_static(CHUNK))[..], CHUNK);
        let seen = visible(
            &account("call,user", "all", true),
            Bytes::from_static(CHUNK),
        );
        let text = String::from_utf8_lossy(&seen);
        assert!(
            text.contains("Newchannel") && text.contains("UserEvent"),
            "{text}"
        );
        assert!(!text.contains("Cdr"), "{text}");
        assert!(text.ends_with("\r\n\r\n"), "{text}");
        let plain = visible(&account("all", "all", false), Bytes::from_static(CHUNK));
        let text = String::from_utf8_lossy(&plain);
        assert!(!text.contains("Timestamp"), "{text}");
        assert_eq!(text.matches("Event: ").count(), 3, "{text}");
        assert!(text.contains("Channel: a\r\n\r\n"), "{text}");
    }
}
