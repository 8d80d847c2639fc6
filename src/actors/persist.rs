//! Turns published changes into store writes: the hub hands every change to the
//! [`StoreWriter`], which batches them off the event loop.

use actix::prelude::*;

use crate::delivery::{Change, Persist, PersistMany};
use crate::model::refresh::RefreshReport;
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
        Persist::Change(Change::RefreshCompleted(r)) => vec![WriteOp::Refresh(refresh_record(&r))],
        // Only the feed carries a snapshot; the state it describes is stored already.
        // Queues are live state, rebuilt from the PBX at every login; the calls that
        // went through them are stored with their queue, wait and outcome.
        Persist::Change(Change::Connection(_) | Change::Queue(_)) | Persist::Snapshot(_) => {
            Vec::new()
        }
        Persist::Confirmed(c) => vec![WriteOp::Confirmed {
            pbx: c.pbx.to_string(),
            extensions: c.extensions,
            at: c.at,
        }],
    }
}

/// A refresh report as a stored run.
fn refresh_record(report: &RefreshReport) -> RefreshRecord {
    RefreshRecord {
        connection_id: report.connection_id.clone(),
        pbx: report.pbx.clone(),
        started_at: report.started_at(),
        finished_at: report.last_query_time,
        extensions_checked: report.extensions_checked as u64,
        successful: report.statistics.successful_queries as u64,
        failed: report.statistics.failed_queries as u64,
        corrections: serde_json::to_value(&report.corrections).unwrap_or(serde_json::Value::Null),
        error: None,
    }
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
