//! [`SubscriberView`]: what a cluster subscriber's messages add up to, compared with
//! a simulator's truth.

use std::collections::BTreeMap;

use serde_json::Value;
use switchboard::sim::PbxSnapshot;

use super::enum_name;

/// What a subscriber's messages add up to: the opening snapshot with every later
/// change applied, per PBX — extension → status and call id → (state, direction).
#[derive(Debug, Default, PartialEq)]
pub struct SubscriberView {
    pub extensions: BTreeMap<(String, String), i64>,
    pub calls: BTreeMap<(String, String), (String, String)>,
}

impl SubscriberView {
    /// Builds the view from `snapshot` (a `snapshot` message) and `changes`.
    pub fn build(snapshot: &Value, changes: &[Value]) -> Self {
        let mut view = Self::default();
        let key = |d: &Value, field: &str| {
            (
                d["pbx"].as_str().unwrap_or_default().to_string(),
                d[field].as_str().unwrap_or_default().to_string(),
            )
        };
        let call = |d: &Value| {
            (
                d["state"].as_str().unwrap_or_default().to_string(),
                d["direction"].as_str().unwrap_or_default().to_string(),
            )
        };
        for e in snapshot["data"]["extensions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            view.extensions
                .insert(key(e, "extension"), e["status"].as_i64().unwrap_or(-1));
        }
        for c in snapshot["data"]["calls"].as_array().into_iter().flatten() {
            view.calls.insert(key(c, "id"), call(c));
        }
        for m in changes {
            let d = &m["data"];
            match m["type"].as_str().unwrap_or_default() {
                "extension.status" => {
                    view.extensions
                        .insert(key(d, "extension"), d["status"].as_i64().unwrap_or(-1));
                }
                "call.started" | "call.updated" => {
                    view.calls.insert(key(d, "id"), call(d));
                }
                "call.ended" => {
                    view.calls.remove(&key(d, "id"));
                }
                _ => {}
            }
        }
        view
    }

    /// How this view of `pbx` differs from the simulator's truth.
    pub fn mismatch(&self, pbx: &str, truth: &PbxSnapshot) -> Option<String> {
        for (exten, status) in &truth.extensions {
            let got = self
                .extensions
                .get(&(pbx.to_string(), exten.clone()))
                .copied();
            if got != Some(i64::from(*status)) {
                return Some(format!("{pbx} extension {exten}: {got:?} vs {status}"));
            }
        }
        let calls: BTreeMap<&str, &(String, String)> = self
            .calls
            .iter()
            .filter(|((p, _), _)| p == pbx)
            .map(|((_, id), v)| (id.as_str(), v))
            .collect();
        let want: BTreeMap<&str, (String, String)> = truth
            .calls
            .iter()
            .map(|c| {
                (
                    c.linkedid.as_str(),
                    (enum_name(&c.state), enum_name(&c.direction)),
                )
            })
            .collect();
        let same =
            calls.len() == want.len() && want.iter().all(|(id, v)| calls.get(id) == Some(&v));
        (!same).then(|| format!("{pbx} calls: {calls:?} vs truth {want:?}"))
    }
}
