//! Judges one PBX's [`Transcript`]: reach, banner, login, each needed action
//! (`Permission denied` named per action), the event classes that reach the
//! account, `Timestamp:` on events, the hints and their contexts, FullyBooted.
//! Each fix names the manager.conf line or the setting to change.

use std::collections::BTreeMap;

use super::ami_session::{Login, Outcome, SessionLimits, Transcript, ASKED};
use super::report::Check;
use crate::ami::AuthMethod;
use crate::config::PbxConfig;
use crate::model::DEFAULT_PBX;

/// What the checks of one PBX need besides its transcript.
pub struct PbxContext<'a> {
    /// The PBX's settings.
    pub pbx: &'a PbxConfig,
    /// The session's deadlines (for the messages).
    pub limits: SessionLimits,
    /// `MAX_EXTENSIONS_PER_PBX`.
    pub max_extensions: usize,
}

/// The setting of this PBX named `suffix` (`HOST` → `AMI_HOST`, or
/// `AMI_<NAME>_HOST` for a PBX of `AMI_PBXS`).
fn setting(pbx: &PbxConfig, suffix: &str) -> String {
    if pbx.name == DEFAULT_PBX {
        format!("AMI_{suffix}")
    } else {
        let name: String = (pbx.name.chars())
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        format!("AMI_{name}_{suffix} (or AMI_{suffix})")
    }
}

/// "add `class` to `read =`/`write =` of [user]" with an example line.
fn manager_conf(pbx: &PbxConfig, key: &str, class: &str, example: &str) -> String {
    format!(
        "add `{class}` to `{key} =` in the [{}] section of manager.conf (e.g. `{key} = {example}`), then `manager reload`",
        pbx.username
    )
}

/// Every check of one PBX, in order; later checks are left out when an earlier
/// one (connection, banner, login) stopped the session.
pub fn judge(cx: &PbxContext<'_>, t: &Transcript) -> Vec<Check> {
    let pbx = cx.pbx;
    let scope = format!("pbx {}", pbx.name);
    let scope = scope.as_str();
    let mut out = Vec::new();
    if let Err(e) = &t.connected {
        out.push(Check::problem(
            scope,
            "reach",
            format!("cannot connect to {}: {e}", t.address),
            format!(
                "check {} and {}; on the PBX, manager.conf [general] needs `enabled = yes`, `port = {}` and a `bindaddr` this host can reach; check firewalls between",
                setting(pbx, "HOST"),
                setting(pbx, "PORT"),
                pbx.port
            ),
        ));
        return out;
    }
    out.push(Check::ok(
        scope,
        "reach",
        format!("{} accepts TCP", t.address),
    ));
    match &t.banner {
        None => {
            out.push(Check::problem(
                scope,
                "banner",
                format!(
                    "no AMI banner within {} ms: this port does not speak AMI",
                    cx.limits.login.as_millis()
                ),
                format!(
                    "set {} to manager.conf's `port` (5038 by default), not a SIP or HTTP port",
                    setting(pbx, "PORT")
                ),
            ));
            return out;
        }
        Some(b) => match b.strip_prefix("Asterisk Call Manager/") {
            Some(version) => out.push(Check::ok(scope, "banner", format!("{b} (AMI {version})"))),
            None => out.push(Check::warning(
                scope,
                "banner",
                format!("unexpected banner {b:?}"),
                "switchboard speaks Asterisk's AMI (banner `Asterisk Call Manager/…`); check the port",
            )),
        },
    }
    let method = match pbx.auth {
        AuthMethod::Md5 => "md5",
        AuthMethod::Plain => "plain",
    };
    let secrets = format!(
        "{} and {} must match a [{}] section and its `secret =` in manager.conf, whose `permit =`/`deny =` must let this host in",
        setting(pbx, "USERNAME"),
        setting(pbx, "SECRET"),
        pbx.username
    );
    match &t.login {
        Login::Accepted => out.push(Check::ok(
            scope,
            "login",
            format!("user {} logged in ({method})", pbx.username),
        )),
        Login::Refused(message) => {
            out.push(Check::problem(
                scope,
                "login",
                format!("user {} refused ({method}): {message}", pbx.username),
                secrets,
            ));
            return out;
        }
        Login::ChallengeRefused(message) => {
            out.push(Check::problem(
                scope,
                "login",
                format!("the PBX gave no MD5 challenge: {message}"),
                format!("set {}=plain", setting(pbx, "AUTH")),
            ));
            return out;
        }
        Login::NoAnswer(message) => {
            out.push(Check::problem(
                scope,
                "login",
                format!("{message} within {} ms", cx.limits.login.as_millis()),
                format!("raise AMI_LOGIN_TIMEOUT_MS if the PBX is slow; otherwise {secrets}"),
            ));
            return out;
        }
        Login::NotTried => return out,
    }
    for name in ASKED {
        out.push(action_check(cx, scope, name, t.answer(name)));
    }
    out.extend(event_checks(cx, scope, t));
    out.push(hint_check(cx, scope, t.answer("ExtensionStateList")));
    out
}

/// What a `Permission denied` on `action` costs and the class that cures it.
fn needs(action: &str) -> (bool, &'static str, &'static str) {
    // (the service cannot work without it, class to add, what it is for)
    match action {
        "ExtensionStateList" => (
            true,
            "reporting",
            "reading every hint at login and on refresh",
        ),
        "CoreShowChannels" => (true, "reporting", "finding the calls already up at login"),
        "QueueStatus" => (false, "agent", "queue figures"),
        "PJSIPShowEndpoint" => (false, "system", "endpoint details"),
        _ => (false, "system", "event filters that lighten the PBX's load"),
    }
}

fn action_check(cx: &PbxContext<'_>, scope: &str, name: &str, answer: Option<&Outcome>) -> Check {
    let check = format!("action {name}");
    let (vital, class, purpose) = needs(name);
    match answer {
        Some(Outcome::Success(items)) => {
            let items = items.len();
            Check::ok(scope, &check, format!("allowed ({items} list items)"))
        }
        Some(Outcome::Error(message)) if message.eq_ignore_ascii_case("Permission denied") => {
            let text = format!("Permission denied: the user may not run it, so no {purpose}");
            let fix = manager_conf(cx.pbx, "write", class, "system,call,reporting,agent");
            if vital {
                Check::problem(scope, &check, text, fix)
            } else {
                Check::warning(scope, &check, text, fix)
            }
        }
        Some(Outcome::Error(message)) if message.starts_with("Invalid/unknown command") => {
            Check::warning(
                scope,
                &check,
                format!("not on this PBX ({message}), so no {purpose}"),
                "load the Asterisk module that provides it (app_queue for QueueStatus, res_pjsip for PJSIPShowEndpoint) if you use it",
            )
        }
        // Any other error came after the permission check: the user may run it.
        Some(Outcome::Error(message)) => {
            Check::ok(scope, &check, format!("allowed (answered: {message})"))
        }
        Some(Outcome::NoAnswer) | None => Check::warning(
            scope,
            &check,
            format!("no answer within {} ms", cx.limits.answer.as_millis()),
            "the PBX may be overloaded; run doctor again",
        ),
    }
}

/// The `Privilege:` classes of the events seen, `all` left out.
fn classes_seen(t: &Transcript) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for e in &t.events {
        for class in e.privilege().unwrap_or("").split(',') {
            let class = class.trim().to_ascii_lowercase();
            if !class.is_empty() && class != "all" {
                *seen.entry(class).or_insert(0) += 1;
            }
        }
    }
    seen
}

fn event_checks(cx: &PbxContext<'_>, scope: &str, t: &Transcript) -> Vec<Check> {
    let mut out = Vec::new();
    let secs = format!("{:.1} s", t.listened.as_secs_f64());
    let seen = classes_seen(t);
    let list: Vec<String> = seen.iter().map(|(c, n)| format!("{c} ({n})")).collect();
    out.push(Check::ok(
        scope,
        "events",
        format!(
            "{} events in {secs}; classes: {}",
            t.events.len(),
            if list.is_empty() {
                "none".to_string()
            } else {
                list.join(", ")
            }
        ),
    ));
    let channels = match t.answer("CoreShowChannels") {
        Some(Outcome::Success(items)) => Some(items.len()),
        _ => None,
    };
    let call_fix = manager_conf(cx.pbx, "read", "call", "system,call,agent,reporting");
    out.push(match (seen.get("call"), channels) {
        (Some(n), _) => Check::ok(scope, "read call", format!("{n} call events arrived: calls and extension states will show")),
        (None, Some(up)) if up > 0 => Check::problem(
            scope,
            "read call",
            format!("no call event arrived in {secs} while the PBX has {up} channels up: the user may not read `call`, so the board stays empty"),
            call_fix,
        ),
        (None, _) => Check::warning(
            scope,
            "read call",
            format!("no call event arrived in {secs} and no channel was up to tell whether the user may read `call`"),
            format!("{call_fix}; or run doctor again during a call"),
        ),
    });
    let booted = t.events.iter().any(|e| e.name() == "FullyBooted");
    out.push(if booted {
        Check::ok(scope, "fully booted", "FullyBooted arrived: the PBX is up and the user reads `system` (Shutdown notices arrive)")
    } else {
        Check::warning(
            scope,
            "fully booted",
            "no FullyBooted at login: the user may not read `system` (a PBX restart is then noticed only by unanswered Pings), or the PBX is still booting",
            manager_conf(cx.pbx, "read", "system", "system,call,agent,reporting"),
        )
    });
    let live: Vec<_> = t
        .events
        .iter()
        .filter(|e| e.privilege().is_some() && e.name() != "FullyBooted")
        .collect();
    let stamped = live.iter().filter(|e| e.timestamp().is_some()).count();
    let fix = "set `timestampevents = yes` in manager.conf [general], then `manager reload`";
    out.push(if live.is_empty() {
        Check::warning(
            scope,
            "timestamps",
            format!("no event arrived in {secs} to tell whether events carry `Timestamp:`"),
            format!("make sure of it: {fix}"),
        )
    } else if stamped == 0 {
        Check::warning(
            scope,
            "timestamps",
            format!(
                "none of {} events carries `Timestamp:`: no latency figures (switchboard_event_*_latency_seconds), and times are when events arrived, not when they happened",
                live.len()
            ),
            fix,
        )
    } else {
        Check::ok(
            scope,
            "timestamps",
            format!("{stamped} of {} events carry `Timestamp:`", live.len()),
        )
    });
    out
}

fn hint_check(cx: &PbxContext<'_>, scope: &str, answer: Option<&Outcome>) -> Check {
    let no_hints = "add a hint per extension to the dialplan (extensions.conf: `exten => 1001,hint,PJSIP/1001`), then `dialplan reload`";
    match answer {
        Some(Outcome::Success(items)) => {
            let mut contexts: BTreeMap<&str, usize> = BTreeMap::new();
            for i in items
                .iter()
                .filter(|i| i.get("Event") == Some("ExtensionStatus"))
            {
                *contexts.entry(i.get("Context").unwrap_or("?")).or_insert(0) += 1;
            }
            let total: usize = contexts.values().sum();
            let list: Vec<String> = contexts.iter().map(|(c, n)| format!("{c} ({n})")).collect();
            if total == 0 {
                Check::warning(
                    scope,
                    "hints",
                    "no hints: the board will list no extensions",
                    no_hints,
                )
            } else if total > cx.max_extensions {
                Check::warning(
                    scope,
                    "hints",
                    format!("{total} hints, more than MAX_EXTENSIONS_PER_PBX ({}): the rest are refused", cx.max_extensions),
                    format!("set MAX_EXTENSIONS_PER_PBX to at least {total}"),
                )
            } else {
                Check::ok(
                    scope,
                    "hints",
                    format!("{total} hints in {}", list.join(", ")),
                )
            }
        }
        Some(Outcome::Error(message)) if message.contains("hints") => Check::warning(
            scope,
            "hints",
            format!("no hints ({message}): the board will list no extensions"),
            no_hints,
        ),
        _ => Check::warning(
            scope,
            "hints",
            "unknown: ExtensionStateList was not answered",
            "see the `action ExtensionStateList` line",
        ),
    }
}
