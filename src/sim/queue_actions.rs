//! Answers to the queue actions: `QueueStatus` and `QueueSummary` (lists shaped
//! like the calls-queue capture's) and `QueuePause`.

use super::queue_model::{member_fields, SimQueue};
use super::shared::Shared;
use super::wire::Wire;
use crate::ami::RawMessage;

fn list_start(w: &mut Wire, id: Option<&str>, message: &str) {
    w.response("Success", id)
        .h("EventList", "start")
        .h("Message", message)
        .end();
}

fn complete(w: &mut Wire, name: &str, id: Option<&str>, items: usize) {
    w.list_item(name, id)
        .h("EventList", "Complete")
        .n("ListItems", items as i64)
        .end();
}

fn wanted<'a>(queues: &'a [SimQueue], m: &RawMessage) -> impl Iterator<Item = &'a SimQueue> {
    let only = m.get("Queue").filter(|q| !q.is_empty()).map(str::to_string);
    queues
        .iter()
        .filter(move |q| only.as_deref().is_none_or(|o| o == q.name))
}

fn average_hold(q: &SimQueue) -> i64 {
    q.total_hold.checked_div(q.answered).unwrap_or(0) as i64
}

/// `QueueStatus`: per queue a `QueueParams`, a `QueueMember` per member and a
/// `QueueEntry` per caller waiting.
pub(super) fn queue_status(shared: &Shared, m: &RawMessage, w: &mut Wire) {
    let id = m.get("ActionID");
    let pbx = shared.pbx();
    list_start(w, id, "Queue status will follow");
    let mut items = 0;
    for q in wanted(&pbx.queues, m) {
        w.list_item("QueueParams", id)
            .h("Queue", &q.name)
            .h("Max", "0")
            .h("Strategy", "ringall")
            .n("Calls", q.callers.len() as i64)
            .n("Holdtime", average_hold(q))
            .h("TalkTime", "0")
            .n("Completed", q.answered as i64)
            .n("Abandoned", q.abandoned as i64)
            .h("ServiceLevel", "0")
            .h("ServicelevelPerf", "0.0")
            .h("ServicelevelPerf2", "0.0")
            .h("Weight", "0")
            .end();
        items += 1;
        for member in &q.members {
            w.list_item("QueueMember", id).h("Queue", &q.name);
            member_fields(w, member, pbx.exts[member.ext].status, true);
            w.end();
            items += 1;
        }
        for (i, c) in q.callers.iter().enumerate() {
            w.list_item("QueueEntry", id)
                .h("Queue", &q.name)
                .n("Position", i as i64 + 1)
                .h("Channel", &c.a.name)
                .h("Uniqueid", &c.a.uniqueid)
                .h("CallerIDNum", &c.a.cid_num)
                .h("CallerIDName", &c.a.cid_name)
                .h("ConnectedLineNum", &c.a.conn_num)
                .h("ConnectedLineName", &c.a.conn_name)
                .n("Wait", c.waited() as i64)
                .h("Priority", "0")
                .end();
            items += 1;
        }
    }
    complete(w, "QueueStatusComplete", id, items);
}

/// `QueueSummary`: one item per queue.
pub(super) fn queue_summary(shared: &Shared, m: &RawMessage, w: &mut Wire) {
    let id = m.get("ActionID");
    let pbx = shared.pbx();
    list_start(w, id, "Queue summary will follow");
    let mut items = 0;
    for q in wanted(&pbx.queues, m) {
        let logged_in = q
            .members
            .iter()
            .filter(|x| pbx.exts[x.ext].status != 4)
            .count();
        let available = q
            .members
            .iter()
            .filter(|x| pbx.exts[x.ext].status == 0 && x.paused.is_none())
            .count();
        let longest = q.callers.iter().map(|c| c.waited()).max().unwrap_or(0);
        w.list_item("QueueSummary", id)
            .h("Queue", &q.name)
            .n("LoggedIn", logged_in as i64)
            .n("Available", available as i64)
            .n("Callers", q.callers.len() as i64)
            .n("HoldTime", average_hold(q))
            .h("TalkTime", "0")
            .n("LongestHoldTime", longest as i64)
            .end();
        items += 1;
    }
    complete(w, "QueueSummaryComplete", id, items);
}

/// `QueuePause`: pauses (`Paused: true`, optional `Reason`) or unpauses the member
/// `Interface` in `Queue` (or in every queue it is in).
pub(super) fn queue_pause(shared: &Shared, m: &RawMessage, w: &mut Wire) {
    let id = m.get("ActionID");
    let Some(interface) = m.get("Interface").filter(|i| !i.is_empty()) else {
        w.reply("Error", id, "Need 'Interface' and 'Paused' parameters.");
        return;
    };
    let paused = m.get("Paused").is_some_and(|p| {
        p.eq_ignore_ascii_case("true") || p == "1" || p.eq_ignore_ascii_case("yes")
    });
    let reason = m.get("Reason").unwrap_or("");
    let only = m.get("Queue").filter(|q| !q.is_empty());
    let found = shared.with_pbx(|pbx| {
        let mut found = false;
        for q in 0..pbx.queues.len() {
            if only.is_some_and(|o| o != pbx.queues[q].name) {
                continue;
            }
            if pbx.queues[q]
                .members
                .iter()
                .any(|x| x.interface == interface)
            {
                found = true;
                pbx.queue_pause(q, interface, paused.then_some(reason));
            }
        }
        found
    });
    match (found, paused) {
        (false, _) => w.reply("Error", id, "Interface not found"),
        (true, true) => w.reply("Success", id, "Interface paused successfully"),
        (true, false) => w.reply("Success", id, "Interface unpaused successfully"),
    }
}
