//! Which actor an event belongs to: a call (by Linkedid), an extension (by number),
//! or nobody (counted as unrouted by the router).

use crate::ami::Event;

/// Where the router sends an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// To the tracker of the call with this Linkedid.
    Call(&'a str),
    /// To the actor of the extension whose hint or device this is.
    Extension(ExtensionKey<'a>),
    /// Known and deliberately not tracked (security, RTCP, CDR, dialplan chatter…).
    Ignored,
    /// An event name this service does not know.
    Unknown,
}

/// How an extension event names its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionKey<'a> {
    /// `ExtensionStatus`: the extension number itself.
    Exten(&'a str),
    /// `DeviceStateChange`, `PeerStatus`: a device such as `PJSIP/1001` or `Custom:2000`.
    Device(&'a str),
    /// `ContactStatus`: the AOR, which is the endpoint name (usually the extension).
    Aor(&'a str),
}

/// Events that change a call.
const CALL_EVENTS: &[&str] = &[
    "Newchannel",
    "Newstate",
    "NewCallerid",
    "NewConnectedLine",
    "DialBegin",
    "DialState",
    "DialEnd",
    "BridgeEnter",
    "BridgeLeave",
    "Hold",
    "Unhold",
    "BlindTransfer",
    "AttendedTransfer",
    "HangupRequest",
    "SoftHangupRequest",
    "Hangup",
    "QueueCallerJoin",
    "QueueCallerLeave",
    "QueueCallerAbandon",
    "AgentConnect",
    "LocalBridge",
    "LocalOptimizationBegin",
    "LocalOptimizationEnd",
    "MusicOnHoldStart",
    "MusicOnHoldStop",
    "OriginateResponse",
    "Rename",
];

/// Events seen on real PBXs that carry nothing for call or extension state.
const IGNORED_EVENTS: &[&str] = &[
    "VarSet",
    "Newexten",
    "Cdr",
    "CEL",
    "RTCPSent",
    "RTCPReceived",
    "BridgeCreate",
    "BridgeDestroy",
    "BridgeMerge",
    "BridgeVideoSourceUpdate",
    "DTMFBegin",
    "DTMFEnd",
    "FullyBooted",
    "Shutdown",
    "Reload",
    "SuccessfulAuth",
    "ChallengeSent",
    "ChallengeResponseFailed",
    "InvalidPassword",
    "InvalidAccountID",
    "FailedACL",
    "RequestBadFormat",
    "RequestNotAllowed",
    "UserEvent",
    "Registry",
    "NewAccountCode",
    "NewPeerAccount",
    "ChanSpyStart",
    "ChanSpyStop",
    "MixMonitorStart",
    "MixMonitorStop",
    "QueueMemberStatus",
    "QueueMemberAdded",
    "QueueMemberRemoved",
    "QueueMemberPause",
    "QueueMemberRinginuse",
    "AgentCalled",
    "AgentRingNoAnswer",
    "AgentComplete",
    "AgentDump",
    "AOR",
    "AorDetail",
    "AuthDetail",
    "ContactStatusDetail",
    "EndpointDetail",
    "EndpointList",
    "EndpointDetailComplete",
    "EndpointListComplete",
    "IdentifyDetail",
    "TransportDetail",
    "InboundRegistrationDetail",
    "OutboundRegistrationDetail",
    "ContactList",
    "ContactListComplete",
    "DeviceStateListComplete",
    "ExtensionStateListComplete",
    "CoreShowChannelsComplete",
    "CoreShowChannel",
    "Status",
    "StatusComplete",
    "QueueParams",
    "QueueMember",
    "QueueEntry",
    "QueueStatusComplete",
    "PresenceStateChange",
    "LoadAverageLimit",
];

/// Decides where `event` goes.
pub fn route(event: &Event) -> Route<'_> {
    let name = event.name();
    match name {
        "ExtensionStatus" => event
            .get("Exten")
            .map_or(Route::Ignored, |e| Route::Extension(ExtensionKey::Exten(e))),
        "DeviceStateChange" => event.get("Device").map_or(Route::Ignored, |d| {
            Route::Extension(ExtensionKey::Device(d))
        }),
        "PeerStatus" => event.get("Peer").map_or(Route::Ignored, |d| {
            Route::Extension(ExtensionKey::Device(d))
        }),
        "ContactStatus" => event
            .get("AOR")
            .map_or(Route::Ignored, |a| Route::Extension(ExtensionKey::Aor(a))),
        _ if CALL_EVENTS.contains(&name) => call_key(event).map_or(Route::Ignored, Route::Call),
        _ if IGNORED_EVENTS.contains(&name) => Route::Ignored,
        _ => Route::Unknown,
    }
}

/// The Linkedid of the call an event belongs to, looking at the prefixed variants
/// that events without a plain channel use (an Originate's Dial events have only
/// `Dest*` fields; transfers use `Transferee*`/`OrigTransferer*`; `LocalBridge` uses
/// `LocalOne*`).
pub fn call_key(event: &Event) -> Option<&str> {
    let key = event
        .linkedid()
        .or_else(|| event.get("DestLinkedid"))
        .or_else(|| event.get("TransfereeLinkedid"))
        .or_else(|| event.get("OrigTransfererLinkedid"))
        .or_else(|| event.get("TransfererLinkedid"))
        .or_else(|| event.get("LocalOneLinkedid"))
        .or_else(|| event.get("Linkedid"));
    match key {
        Some(k) if !k.is_empty() && k != "<unknown>" => Some(k),
        // OriginateResponse keys by the originated channel's Uniqueid.
        _ => event
            .uniqueid()
            .filter(|u| !u.is_empty() && *u != "<unknown>"),
    }
}

/// The extension a device belongs to when its name says so: `PJSIP/1001` → `1001`,
/// `Custom:2000` → `2000`, `SIP/1001` → `1001`. Devices whose resource is not a
/// number (trunks, `Local/…`) name no extension; the router then relies on the hints
/// it has learned.
pub fn device_extension(device: &str) -> Option<&str> {
    let resource = device.split_once(['/', ':']).map(|(_, r)| r)?;
    if device.starts_with("Local/") {
        return None;
    }
    let resource = resource.split('-').next().unwrap_or(resource);
    (!resource.is_empty() && resource.bytes().all(|b| b.is_ascii_digit())).then_some(resource)
}

/// The extension a channel name belongs to: `PJSIP/1001-000000ae` → `1001`.
pub fn channel_extension(channel: &str) -> Option<&str> {
    let (tech, rest) = channel.split_once('/')?;
    if tech.eq_ignore_ascii_case("Local") {
        return None;
    }
    let resource = match rest.rfind('-') {
        Some(i) => &rest[..i],
        None => rest,
    };
    (!resource.is_empty() && resource.bytes().all(|b| b.is_ascii_digit())).then_some(resource)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ami::event_names::{label, OTHER};

    #[test]
    fn every_event_the_router_knows_keeps_its_own_metric_label() {
        for name in CALL_EVENTS.iter().chain(IGNORED_EVENTS) {
            assert_ne!(label(name), OTHER, "{name} is missing from event_names");
        }
        for name in [
            "ExtensionStatus",
            "DeviceStateChange",
            "PeerStatus",
            "ContactStatus",
        ] {
            assert_eq!(label(name), name);
        }
    }
}
