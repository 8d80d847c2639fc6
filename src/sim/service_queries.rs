//! Answers to the queries `switchboard doctor` asks besides the hints and channels:
//! `QueueStatus` (the simulator has no queues: an empty list), `PJSIPShowEndpoint`
//! (one `EndpointDetail` for an extension's endpoint) and `Filter` (accepted as
//! Asterisk accepts it; the simulator's sessions share one event feed, so the
//! filter is answered but not applied). Shapes copy the queries and filter captures.

use super::shared::Shared;
use super::wire::Wire;
use crate::ami::RawMessage;

/// Answers `action` (lower-case) when it is one of this file's; false otherwise.
pub(super) fn answer(shared: &Shared, action: &str, m: &RawMessage, w: &mut Wire) -> bool {
    let id = m.get("ActionID");
    match action {
        "queuestatus" => {
            w.response("Success", id)
                .h("EventList", "start")
                .h("Message", "Queue status will follow")
                .end();
            w.list_item("QueueStatusComplete", id)
                .h("EventList", "Complete")
                .n("ListItems", 0)
                .end();
        }
        "pjsipshowendpoint" => endpoint(shared, m, w),
        "filter" => {
            let add = m
                .get("Operation")
                .is_none_or(|o| o.eq_ignore_ascii_case("add"));
            if !add {
                w.reply("Error", id, "Unknown operation");
            } else if m.get("Filter").is_none_or(str::is_empty) {
                w.reply("Error", id, "Filter Add requires a Filter");
            } else {
                w.reply("Success", id, "Success");
            }
        }
        _ => return false,
    }
    true
}

/// `PJSIPShowEndpoint Endpoint=<n>`: the endpoint of extension n, or an error.
fn endpoint(shared: &Shared, m: &RawMessage, w: &mut Wire) {
    let id = m.get("ActionID");
    let Some(name) = m.get("Endpoint").filter(|e| !e.is_empty()) else {
        w.reply("Error", id, "Endpoint parameter missing.");
        return;
    };
    if !shared.pbx().by_number.contains_key(name) {
        w.reply("Error", id, &format!("Unable to retrieve endpoint {name}"));
        return;
    }
    w.response("Success", id)
        .h("EventList", "start")
        .h(
            "Message",
            "Following are Events for each object associated with the Endpoint",
        )
        .end();
    w.list_item("EndpointDetail", id)
        .h("ObjectType", "endpoint")
        .h("ObjectName", name)
        .h("Context", &shared.cfg.context)
        .h("DeviceState", "Not in use")
        .h("EndpointName", name)
        .end();
    w.list_item("EndpointDetailComplete", id)
        .h("EventList", "Complete")
        .n("ListItems", 1)
        .end();
}
