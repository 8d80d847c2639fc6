//! Turns published changes into store writes: the hub hands every change to the
//! [`StoreWriter`], which batches them off the event loop.

use actix::prelude::*;

use crate::delivery::{Change, Persist, PersistMany};
use crate::model::ExtensionTransition;
use crate::store::{RefreshRecord, StoreWriter, Write, WriteOp};
use crate::supervision::guarded;

/// The writes one change causes.
pub fn write_ops(persist: Persist) -> Vec<WriteOp> {
    match persist {
        Persist::Change(Change::Extension(e)) => {
            let t = ExtensionTransition {
                pbx: e.pbx.clone(),
                extension: e.extension.clone(),
                status: e.status,
                status_text: e.status_text.clone(),
                state: e.state,
                device_state: e.device_state.clone(),
                at: e.last_change,
            };
            vec![WriteOp::Extension(e), WriteOp::Transition(t)]
        }
        Persist::Change(Change::CallStarted(c) | Change::CallUpdated(c)) => {
            vec![WriteOp::ActiveCall(c)]
        }
        Persist::Change(Change::CallEnded(c)) => vec![WriteOp::FinishedCall(c)],
        Persist::Change(Change::RefreshCompleted(v)) => refresh_record(&v)
            .map(WriteOp::Refresh)
            .into_iter()
            .collect(),
        // Only the feed carries a snapshot; the state it describes is stored already.
        Persist::Change(Change::Connection(_)) | Persist::Snapshot(_) => Vec::new(),
        Persist::Confirmed(c) => vec![WriteOp::Confirmed {
            pbx: c.pbx.to_string(),
            extensions: c.extensions,
            at: c.at,
        }],
    }
}

/// A refresh report (its JSON form, as published) as a stored run.
fn refresh_record(v: &serde_json::Value) -> Option<RefreshRecord> {
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let num = |a: &str, b: &str| {
        v.get(a)
            .and_then(|x| if b.is_empty() { Some(x) } else { x.get(b) })
            .and_then(|x| x.as_u64())
            .unwrap_or(0)
    };
    let finished_at = text("lastQueryTime")
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(chrono::Utc::now);
    let duration = v.get("durationMs").and_then(|x| x.as_f64()).unwrap_or(0.0);
    Some(RefreshRecord {
        connection_id: text("connectionId")?,
        pbx: text("pbx").unwrap_or_default(),
        started_at: finished_at - chrono::Duration::microseconds((duration * 1000.0) as i64),
        finished_at,
        extensions_checked: num("extensionsChecked", ""),
        successful: num("statistics", "successfulQueries"),
        failed: num("statistics", "failedQueries"),
        corrections: v
            .get("corrections")
            .cloned()
            .unwrap_or(serde_json::Value::Null),
        error: None,
    })
}

impl Handler<Persist> for StoreWriter {
    type Result = ();

    fn handle(&mut self, msg: Persist, ctx: &mut Self::Context) {
        guarded(self, ctx, "Persist", |act, ctx| persist(act, msg, ctx));
    }
}

/// Turns one change into the writer's ops (and, in cluster mode, its feed row).
fn persist(writer: &mut StoreWriter, msg: Persist, ctx: &mut Context<StoreWriter>) {
    // Cluster mode: the change goes into the feed with its state writes.
    let feed = writer.feed_instance().and_then(|instance| {
        crate::store::feed_op::feed_row(&msg, instance)
            .map_err(|e| log::error!("cannot encode a change for the feed: {e}"))
            .ok()
            .flatten()
    });
    let ops = write_ops(msg).into_iter().chain(feed.map(WriteOp::Feed));
    for op in ops {
        <StoreWriter as Handler<Write>>::handle(writer, Write(op), ctx);
    }
}

impl Handler<PersistMany> for StoreWriter {
    type Result = ();

    fn handle(&mut self, PersistMany(list): PersistMany, ctx: &mut Self::Context) {
        guarded(self, ctx, "PersistMany", |act, ctx| {
            for msg in list {
                persist(act, msg, ctx);
            }
        });
    }
}
