//! What the simulator answers about names: `PJSIPShowEndpoint` with the endpoint's
//! caller ID (`"User 1001" <1001>`) in the shape Asterisk 22 sends
//! (`tests/fixtures/queries.server.ami`: an `EndpointDetail`, `AuthDetail` and
//! `AorDetail` item, then `EndpointDetailComplete`), and `DBGet` answering "not
//! found" as a PBX without FreePBX's AstDB entries does. `SIPshowpeer` is left to
//! the unknown-action answer, as on an Asterisk without chan_sip.

use super::shared::Shared;
use super::wire::Wire;
use crate::ami::RawMessage;

/// `PJSIPShowEndpoint Endpoint=<n>`: the endpoint's objects, or an error for an
/// endpoint the PBX does not have.
pub(super) fn pjsip_show_endpoint(shared: &Shared, m: &RawMessage, w: &mut Wire) {
    let id = m.get("ActionID");
    let endpoint = m.get("Endpoint").unwrap_or("");
    let found = {
        let pbx = shared.pbx();
        pbx.by_number.get(endpoint).map(|&i| {
            (
                pbx.exts[i].name.clone(),
                pbx.context.clone(),
                pbx.exts[i].status,
            )
        })
    };
    let Some((name, context, status)) = found else {
        let message = if endpoint.is_empty() {
            "Endpoint parameter missing.".to_string()
        } else {
            format!("Unable to retrieve endpoint {endpoint}")
        };
        w.reply("Error", id, &message);
        return;
    };
    w.response("Success", id)
        .h("EventList", "start")
        .h(
            "Message",
            "Following are Events for each object associated with the Endpoint",
        )
        .end();
    let device = if status & 4 != 0 {
        "Unavailable"
    } else {
        "Not in use"
    };
    w.list_item("EndpointDetail", id)
        .h("ObjectType", "endpoint")
        .h("ObjectName", endpoint)
        .h("Aors", endpoint)
        .h("Context", &context)
        .h("Callerid", &format!("\"{name}\" <{endpoint}>"))
        .h("Auth", endpoint)
        .h("DeviceState", device)
        .n("ActiveChannels", 0)
        .end();
    w.list_item("AuthDetail", id)
        .h("ObjectType", "auth")
        .h("ObjectName", endpoint)
        .h("Username", endpoint)
        .h("AuthType", "userpass")
        .end();
    w.list_item("AorDetail", id)
        .h("ObjectType", "aor")
        .h("ObjectName", endpoint)
        .n("MaxContacts", 1)
        .h("EndpointName", endpoint)
        .end();
    w.list_item("EndpointDetailComplete", id)
        .h("EventList", "Complete")
        .n("ListItems", 3)
        .end();
}

/// `DBGet`: the simulated PBX keeps no AstDB entries.
pub(super) fn db_get(m: &RawMessage, w: &mut Wire) {
    w.reply("Error", m.get("ActionID"), "Database entry not found");
}
