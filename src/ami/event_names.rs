//! The names of Asterisk's own manager events, for labels that stay bounded.
//!
//! Taken from Asterisk's documented manager events (docs.asterisk.org, "API
//! Documentation / AMI Events" of Asterisk 16, 18 and 20, generated from the
//! `<managerEvent>` XML in the Asterisk source), plus `AOR`, which the router knows
//! from PJSIP's `PJSIPShowAors` lists. A PBX may send any name at all (`UserEvent`s
//! aside, a module or a hostile peer can invent them), so metrics label only these
//! names and count every other under [`OTHER`]: a million invented names then cost
//! one label, not a million.

/// The label every name outside [`KNOWN`] is counted under.
pub const OTHER: &str = "other";

/// Asterisk's manager event names, sorted (byte order) for a binary search.
pub const KNOWN: &[&str] = &[
    "AGIExecEnd",
    "AGIExecStart",
    "AOC-D",
    "AOC-E",
    "AOC-S",
    "AOR",
    "AgentCalled",
    "AgentComplete",
    "AgentConnect",
    "AgentDump",
    "AgentLogin",
    "AgentLogoff",
    "AgentRingNoAnswer",
    "Agents",
    "AgentsComplete",
    "Alarm",
    "AlarmClear",
    "AorDetail",
    "AorList",
    "AorListComplete",
    "AsyncAGIEnd",
    "AsyncAGIExec",
    "AsyncAGIStart",
    "AttendedTransfer",
    "AuthDetail",
    "AuthList",
    "AuthListComplete",
    "AuthMethodNotAllowed",
    "BlindTransfer",
    "BridgeCreate",
    "BridgeDestroy",
    "BridgeEnter",
    "BridgeInfoChannel",
    "BridgeInfoComplete",
    "BridgeLeave",
    "BridgeListComplete",
    "BridgeListItem",
    "BridgeMerge",
    "BridgeTechnologyListComplete",
    "BridgeTechnologyListItem",
    "BridgeVideoSourceUpdate",
    "CEL",
    "Cdr",
    "ChallengeResponseFailed",
    "ChallengeSent",
    "ChanSpyStart",
    "ChanSpyStop",
    "ChannelTalkingStart",
    "ChannelTalkingStop",
    "ConfbridgeEnd",
    "ConfbridgeJoin",
    "ConfbridgeLeave",
    "ConfbridgeList",
    "ConfbridgeListRooms",
    "ConfbridgeMute",
    "ConfbridgeRecord",
    "ConfbridgeStart",
    "ConfbridgeStopRecord",
    "ConfbridgeTalking",
    "ConfbridgeUnmute",
    "ContactList",
    "ContactListComplete",
    "ContactStatus",
    "ContactStatusDetail",
    "CoreShowChannel",
    "CoreShowChannelMapComplete",
    "CoreShowChannelsComplete",
    "DAHDIChannel",
    "DNDState",
    "DTMFBegin",
    "DTMFEnd",
    "DeadlockStart",
    "DeviceStateChange",
    "DeviceStateListComplete",
    "DialBegin",
    "DialEnd",
    "DialState",
    "EndpointDetail",
    "EndpointDetailComplete",
    "EndpointList",
    "EndpointListComplete",
    "ExtensionStateListComplete",
    "ExtensionStatus",
    "FAXSession",
    "FAXSessionsComplete",
    "FAXSessionsEntry",
    "FAXStats",
    "FAXStatus",
    "FailedACL",
    "FullyBooted",
    "Hangup",
    "HangupHandlerPop",
    "HangupHandlerPush",
    "HangupHandlerRun",
    "HangupRequest",
    "Hold",
    "IdentifyDetail",
    "InboundRegistrationDetail",
    "InboundSubscriptionDetail",
    "InvalidAccountID",
    "InvalidPassword",
    "InvalidTransport",
    "Load",
    "LoadAverageLimit",
    "LocalBridge",
    "LocalOptimizationBegin",
    "LocalOptimizationEnd",
    "LogChannel",
    "MCID",
    "MWIGet",
    "MWIGetComplete",
    "MeetmeEnd",
    "MeetmeJoin",
    "MeetmeLeave",
    "MeetmeList",
    "MeetmeListRooms",
    "MeetmeMute",
    "MeetmeTalkRequest",
    "MeetmeTalking",
    "MemoryLimit",
    "MessageWaiting",
    "MiniVoiceMail",
    "MixMonitorMute",
    "MixMonitorStart",
    "MixMonitorStop",
    "MonitorStart",
    "MonitorStop",
    "MusicOnHoldStart",
    "MusicOnHoldStop",
    "NewAccountCode",
    "NewCallerid",
    "NewConnectedLine",
    "NewPeerAccount",
    "Newchannel",
    "Newexten",
    "Newstate",
    "OriginateResponse",
    "OutboundRegistrationDetail",
    "OutboundSubscriptionDetail",
    "Park",
    "ParkedCall",
    "ParkedCallGiveUp",
    "ParkedCallSwap",
    "ParkedCallTimeOut",
    "ParkedCallsComplete",
    "PeerEntry",
    "PeerStatus",
    "PeerlistComplete",
    "Pickup",
    "PresenceStateChange",
    "PresenceStateListComplete",
    "PresenceStatus",
    "QueueCallerAbandon",
    "QueueCallerJoin",
    "QueueCallerLeave",
    "QueueEntry",
    "QueueMember",
    "QueueMemberAdded",
    "QueueMemberPause",
    "QueueMemberPenalty",
    "QueueMemberRemoved",
    "QueueMemberRinginuse",
    "QueueMemberStatus",
    "QueueParams",
    "QueueStatusComplete",
    "QueueSummary",
    "QueueSummaryComplete",
    "RTCPReceived",
    "RTCPSent",
    "ReceiveFAX",
    "RegistrationsComplete",
    "Registry",
    "RegistryEntry",
    "Reload",
    "Rename",
    "RequestBadFormat",
    "RequestNotAllowed",
    "RequestNotSupported",
    "ResourceListDetail",
    "SendFAX",
    "SessionLimit",
    "SessionTimeout",
    "Shutdown",
    "SoftHangupRequest",
    "SpanAlarm",
    "SpanAlarmClear",
    "Status",
    "StatusComplete",
    "SuccessfulAuth",
    "TransportDetail",
    "UnParkedCall",
    "UnexpectedAddress",
    "Unhold",
    "UserEvent",
    "VarSet",
];

/// The live queue events the service consumes (the queue book in
/// `state::queue` reads each; the caller events also go to the call's tracker).
/// Part of the set of consumed events an AMI `Filter` whitelist is built from.
pub const QUEUE_EVENTS: &[&str] = &[
    "AgentCalled",
    "AgentComplete",
    "AgentConnect",
    "AgentRingNoAnswer",
    "QueueCallerAbandon",
    "QueueCallerJoin",
    "QueueCallerLeave",
    "QueueMemberAdded",
    "QueueMemberPause",
    "QueueMemberPenalty",
    "QueueMemberRemoved",
    "QueueMemberRinginuse",
    "QueueMemberStatus",
];

/// The metric label for event `name`: the name itself when Asterisk documents it,
/// [`OTHER`] otherwise (case-sensitive, as Asterisk writes them).
pub fn label(name: &str) -> &'static str {
    known_index(name.as_bytes()).map_or(OTHER, |i| KNOWN[i])
}

/// The index of `name` in [`KNOWN`], looked up in a hash map built once: asked for
/// every event read, and a binary search over these ~200 names costs eight string
/// comparisons scattered over memory where a hash costs one.
pub(crate) fn known_index(name: &[u8]) -> Option<usize> {
    static INDEX: std::sync::OnceLock<crate::fastmap::FastMap<&'static [u8], usize>> =
        std::sync::OnceLock::new();
    INDEX
        .get_or_init(|| {
            KNOWN
                .iter()
                .enumerate()
                .map(|(i, n)| (n.as_bytes(), i))
                .collect()
        })
        .get(name)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_and_unique_so_the_search_finds_every_name() {
        assert!(
            KNOWN.windows(2).all(|w| w[0] < w[1]),
            "sorted, no duplicates"
        );
        for name in KNOWN {
            assert_eq!(label(name), *name);
        }
    }

    #[test]
    fn every_queue_event_is_a_known_name() {
        for name in QUEUE_EVENTS {
            assert_eq!(label(name), *name);
        }
    }

    #[test]
    fn invented_names_share_one_label() {
        for name in ["MadeUp1", "hangup", "", "Hangup ", "X".repeat(300).as_str()] {
            assert_eq!(label(name), OTHER, "{name:?}");
        }
        assert_eq!(label("Hangup"), "Hangup");
        assert_eq!(label("VarSet"), "VarSet");
    }
}
