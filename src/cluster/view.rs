//! [`ClusterView`]: who holds which PBX, as `/api/health` reports it.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use serde::Serialize;

/// One PBX's lease as seen from this instance.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Holding {
    /// The instance holding the PBX's lease (`None`: nobody right now).
    pub held_by: Option<String>,
    /// Whether this instance holds it (and so runs its AMI connection).
    pub held_here: bool,
    /// This instance's name.
    pub instance: String,
}

#[derive(Debug, Default)]
struct Inner {
    held_here: HashSet<String>,
    held_by: HashMap<String, String>,
    lease_session: bool,
}

/// Shared between the lease worker (writer) and the HTTP handlers (readers).
#[derive(Debug)]
pub struct ClusterView {
    /// This instance's name.
    pub instance: String,
    inner: RwLock<Inner>,
}

impl ClusterView {
    /// An empty view for `instance`.
    pub fn new(instance: &str) -> Self {
        Self {
            instance: instance.to_string(),
            inner: RwLock::new(Inner::default()),
        }
    }

    /// Records the leases this instance holds and who holds each PBX.
    pub fn update(&self, here: &HashSet<String>, by: HashMap<String, String>, session: bool) {
        if let Ok(mut inner) = self.inner.write() {
            inner.held_here = here.clone();
            inner.held_by = by;
            inner.lease_session = session;
        }
    }

    /// The lease of `pbx`.
    pub fn holding(&self, pbx: &str) -> Holding {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let held_here = inner.held_here.contains(pbx);
        Holding {
            held_by: inner
                .held_by
                .get(pbx)
                .cloned()
                .or_else(|| held_here.then(|| self.instance.clone())),
            held_here,
            instance: self.instance.clone(),
        }
    }

    /// Whether this instance's lease session is connected.
    pub fn lease_session(&self) -> bool {
        self.inner.read().map(|i| i.lease_session).unwrap_or(false)
    }
}
