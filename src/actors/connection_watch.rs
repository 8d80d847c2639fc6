//! [`ConnectionWatch`]: the hub's safety net for AMI connection states.
//!
//! Each ConnectionActor writes its state into its shared status cell (what
//! `/api/health` reads) and then publishes the same snapshot to the hub with
//! `do_send`, which queues past the mailbox's capacity, so in normal operation
//! nothing is lost. A message can still go missing — the hub panics while handling
//! it and its supervisor restarts it without that message — and a board that shows
//! a healthy PBX as down until its next transition is the one thing a monitoring
//! board must not do. So the hub compares the cells with its live view every
//! [`RECHECK`] and republishes any cell the live view has disagreed with for two
//! checks in a row: one check of grace lets a snapshot that is merely queued arrive
//! first, so a repair never overtakes (and then repeats) the change in flight.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::connection::SharedStatus;
use super::live::LiveState;
use crate::model::{AmiConnectionState, ConnectionStatus};

/// How often the live view's connection states are compared with the cells.
pub const RECHECK: Duration = Duration::from_millis(250);

/// The status cells of this instance's connections and what differed last time.
#[derive(Debug, Default)]
pub struct ConnectionWatch {
    cells: Vec<SharedStatus>,
    /// Per PBX, the `since` of a cell value the live view lacked at the last check.
    suspect: HashMap<String, DateTime<Utc>>,
}

impl ConnectionWatch {
    /// Watches `cells` (one per configured PBX).
    pub fn new(cells: Vec<SharedStatus>) -> Self {
        Self {
            cells,
            suspect: HashMap::new(),
        }
    }

    /// True when there is nothing to watch (no timer needed).
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The cell values the live view has lacked for two checks in a row: the
    /// changes to publish to bring it (and every subscriber) back in line.
    pub fn repairs(&mut self, live: &LiveState) -> Vec<Arc<ConnectionStatus>> {
        let mut out = Vec::new();
        for cell in &self.cells {
            let status = match cell.read() {
                Ok(s) => s.clone(),
                Err(poisoned) => poisoned.into_inner().clone(),
            };
            if status.state == AmiConnectionState::Standby {
                // Another instance holds the PBX (cluster mode): its state reaches
                // the live view through the change feed, not from this cell.
                self.suspect.remove(&status.pbx);
                continue;
            }
            let agrees = live
                .connections
                .get(&status.pbx)
                .is_some_and(|shown| shown.state == status.state && shown.since == status.since);
            if agrees {
                self.suspect.remove(&status.pbx);
                continue;
            }
            if self.suspect.get(&status.pbx) == Some(&status.since) {
                self.suspect.remove(&status.pbx);
                out.push(Arc::new(status));
            } else {
                self.suspect.insert(status.pbx.clone(), status.since);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::connection::ConnectionActor;

    fn set(cell: &SharedStatus, state: AmiConnectionState) {
        let mut s = cell.write().expect("cell");
        s.state = state;
        s.since = Utc::now();
    }

    fn show(live: &mut LiveState, cell: &SharedStatus) {
        let s = cell.read().expect("cell").clone();
        live.connections.insert(s.pbx.clone(), Arc::new(s));
    }

    #[test]
    fn a_lost_state_is_republished_after_one_check_of_grace() {
        let (a, b) = (
            ConnectionActor::status_for("a"),
            ConnectionActor::status_for("b"),
        );
        let mut watch = ConnectionWatch::new(vec![a.clone(), b.clone()]);
        let mut live = LiveState::default();
        set(&a, AmiConnectionState::Connected);
        set(&b, AmiConnectionState::Connected);
        show(&mut live, &a);
        assert!(watch.repairs(&live).is_empty(), "b gets its grace check");
        let repaired = watch.repairs(&live);
        assert_eq!(repaired.len(), 1);
        assert_eq!(
            (repaired[0].pbx.as_str(), repaired[0].state),
            ("b", AmiConnectionState::Connected)
        );
        show(&mut live, &b);
        assert!(watch.repairs(&live).is_empty(), "both agree now");
    }

    #[test]
    fn a_cell_that_keeps_changing_is_not_overtaken_and_standby_is_left_alone() {
        let (a, b) = (
            ConnectionActor::status_for("a"),
            ConnectionActor::status_for("b"),
        );
        let mut watch = ConnectionWatch::new(vec![a.clone(), b.clone()]);
        let live = LiveState::default();
        set(&b, AmiConnectionState::Standby);
        set(&a, AmiConnectionState::Connecting);
        assert!(watch.repairs(&live).is_empty());
        std::thread::sleep(Duration::from_millis(2));
        set(&a, AmiConnectionState::Connected);
        assert!(
            watch.repairs(&live).is_empty(),
            "a new value in the cell: its own message may be on its way"
        );
        let repaired = watch.repairs(&live);
        assert_eq!(repaired.len(), 1, "standby cells are never republished");
        assert_eq!(repaired[0].state, AmiConnectionState::Connected);
    }
}
