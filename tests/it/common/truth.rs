//! "Ends with the same calls and extension states as the PBX": switchboard's view
//! (from the HTTP API or from the store) reduced to what the simulator also knows,
//! and compared with the simulator's ground truth (`SimHandle::snapshot`).

use super::wait::{wait_until, DEADLINE};
use std::collections::BTreeMap;

use serde_json::Value;
use switchboard::model::{Call, Extension};
use switchboard::sim::{PbxSnapshot, SimHandle};
use switchboard::store::{Flush, Store};

use super::service::TestService;

/// One active call as both sides can describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallView {
    /// The caller's number.
    pub caller: String,
    /// The callee's number.
    pub callee: String,
    /// `direction` as JSON (`"internal"`…).
    pub direction: String,
    /// `state` as JSON (`"bridged"`…).
    pub state: String,
}

/// Extension number → hint status, and call id → [`CallView`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// Extension number → hint status.
    pub extensions: BTreeMap<String, i32>,
    /// Active call id (Linkedid) → what both sides can say about it.
    pub calls: BTreeMap<String, CallView>,
}

fn json_text(v: impl serde::Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(e) => format!("<{e}>"),
    }
}

impl View {
    /// What the PBX believes.
    pub fn of_pbx(truth: &PbxSnapshot) -> Self {
        Self {
            extensions: truth.extensions.clone(),
            calls: truth
                .calls
                .iter()
                .map(|c| {
                    (
                        c.linkedid.clone(),
                        CallView {
                            caller: c.caller.clone(),
                            callee: c.callee.clone(),
                            direction: json_text(c.direction),
                            state: json_text(c.state),
                        },
                    )
                })
                .collect(),
        }
    }

    /// The simulator's truth right now.
    pub fn of_sim(sim: &SimHandle) -> Self {
        Self::of_pbx(&sim.snapshot())
    }

    /// Switchboard's own model values (store rows, live view).
    pub fn of_model<'a>(
        extensions: impl IntoIterator<Item = &'a Extension>,
        calls: impl IntoIterator<Item = &'a Call>,
    ) -> Self {
        Self {
            extensions: extensions
                .into_iter()
                .map(|e| (e.extension.clone(), e.status.0))
                .collect(),
            calls: calls
                .into_iter()
                .map(|c| {
                    (
                        c.id.clone(),
                        CallView {
                            caller: c.caller.number.clone().unwrap_or_default(),
                            callee: c.callee.number.clone().unwrap_or_default(),
                            direction: json_text(c.direction),
                            state: json_text(c.state),
                        },
                    )
                })
                .collect(),
        }
    }

    /// What `GET /api/extensions` and `GET /api/calls` answer.
    pub async fn of_api(ts: &TestService) -> Self {
        let ext = ts.get("/api/extensions").await.1;
        let calls = ts.get("/api/calls").await.1;
        Self::of_api_json(&ext, &calls)
    }

    /// The same from a service at `base` (`http://127.0.0.1:PORT`) this process did
    /// not start (the real binary).
    pub async fn of_api_url(base: &str) -> Self {
        let client = awc::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .finish();
        let mut bodies = Vec::new();
        for path in ["/api/extensions", "/api/calls"] {
            let mut res = client
                .get(format!("{base}{path}"))
                .send()
                .await
                .expect("GET answered");
            bodies.push(
                res.json::<Value>()
                    .limit(64 << 20)
                    .await
                    .expect("JSON body"),
            );
        }
        Self::of_api_json(&bodies[0], &bodies[1])
    }

    /// Reduces the two API answers.
    pub fn of_api_json(ext: &Value, calls: &Value) -> Self {
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        Self {
            extensions: ext["data"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    (
                        text(&e["extension"]),
                        e["status"].as_i64().unwrap_or(i64::MIN) as i32,
                    )
                })
                .collect(),
            calls: calls["data"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    (
                        text(&c["id"]),
                        CallView {
                            caller: text(&c["caller"]["number"]),
                            callee: text(&c["callee"]["number"]),
                            direction: text(&c["direction"]),
                            state: text(&c["state"]),
                        },
                    )
                })
                .collect(),
        }
    }

    /// What the store holds (extension rows and active calls).
    pub fn of_store(store: &Store) -> Self {
        let extensions = store.list_extensions(None).expect("stored extensions");
        let calls = store.list_active_calls(None).expect("stored active calls");
        Self::of_model(&extensions, &calls)
    }

    /// The first difference from `want`, in words.
    pub fn diff(&self, want: &Self) -> Option<String> {
        if self == want {
            return None;
        }
        for (k, v) in &want.extensions {
            let got = self.extensions.get(k);
            if got != Some(v) {
                return Some(format!("extension {k}: {got:?}, PBX says {v}"));
            }
        }
        if self.extensions.len() != want.extensions.len() {
            return Some(format!(
                "{} extensions, PBX has {}",
                self.extensions.len(),
                want.extensions.len()
            ));
        }
        for (k, v) in &want.calls {
            match self.calls.get(k) {
                Some(got) if got == v => {}
                got => return Some(format!("call {k}: {got:?}, PBX says {v:?}")),
            }
        }
        let extra: Vec<_> = self
            .calls
            .keys()
            .filter(|k| !want.calls.contains_key(*k))
            .collect();
        Some(format!("calls the PBX does not have: {extra:?}"))
    }
}

/// Waits until the API shows exactly the simulator's extensions and calls.
pub async fn wait_api_matches_pbx(ts: &TestService, what: &str) {
    wait_until(
        &format!("{what}: the API to match the PBX"),
        DEADLINE,
        || async {
            match View::of_api(ts).await.diff(&View::of_sim(&ts.sim)) {
                None => Ok(()),
                Some(d) => Err(format!("{d:?}")),
            }
        },
    )
    .await;
}

/// Commits pending writes, then asserts the store holds exactly the simulator's
/// extension states and active calls.
pub async fn assert_store_matches_pbx(ts: &TestService, what: &str) {
    ts.service
        .state
        .writer
        .send(Flush)
        .await
        .expect("writer answers");
    let stored = View::of_store(&ts.service.state.store);
    assert_eq!(
        stored.diff(&View::of_sim(&ts.sim)),
        None,
        "{what}: the store differs from the PBX"
    );
}
