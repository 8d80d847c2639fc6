//! What a stored change looks like in the cluster's change feed: its WebSocket
//! type as `kind`, and the same JSON object subscribers receive as `data` as
//! `payload` (or, for extensions a resync confirmed, `{"extensions": [...], "at": ...}`).
//!
//! Here, below the store and the cluster, because the store writer encodes what
//! the hub hands it and the cluster's feed reader decodes it again.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::calls_snapshot::CallsSnapshot;
use super::change::{Change, Confirmed};
use super::store_writes::Persist;

/// The feed kind of a [`Confirmed`].
const CONFIRMED: &str = "confirmed";
/// The feed kind of a [`CallsSnapshot`].
const SNAPSHOT: &str = "calls.snapshot";

#[derive(Serialize, Deserialize)]
struct ConfirmedPayload {
    extensions: Vec<String>,
    at: DateTime<Utc>,
}

/// A stored write as the feed carries it (without the writing instance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedForm {
    /// The PBX it belongs to.
    pub pbx: String,
    /// Its kind (a WebSocket message type, `confirmed` or `calls.snapshot`).
    pub kind: &'static str,
    /// Its JSON.
    pub payload: String,
}

/// Why a feed entry could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum FeedFormError {
    /// A payload that is not the JSON of its kind.
    #[error("bad change-feed payload: {0}")]
    Payload(#[from] serde_json::Error),
    /// A kind this version does not know.
    #[error("unknown change-feed kind {0:?}")]
    UnknownKind(String),
}

/// A change read back from the feed, to apply to the live view.
#[derive(Debug)]
pub enum Replayed {
    /// A state change (published to the hub).
    Change(Change),
    /// Extensions confirmed by the PBX (their `lastConfirmed`).
    Confirmed(Confirmed),
    /// A new holder's picture of the PBX's calls.
    Snapshot(Arc<CallsSnapshot>),
}

/// The PBX a stored write belongs to.
pub fn pbx_of(persist: &Persist) -> Option<&str> {
    match persist {
        Persist::Change(change) => match change {
            Change::Extension(e) => Some(&e.pbx),
            Change::CallStarted(c) | Change::CallUpdated(c) | Change::CallEnded(c) => Some(&c.pbx),
            Change::Connection(s) => Some(&s.pbx),
            Change::RefreshCompleted(r) => Some(r.pbx.as_str()).filter(|p| !p.is_empty()),
            Change::Queue(q) => Some(&q.pbx),
        },
        Persist::Confirmed(c) => Some(&c.pbx),
        Persist::Snapshot(s) => Some(&s.pbx),
    }
}

/// The feed form of a stored write (`None`: it belongs to no PBX).
pub fn encode(persist: &Persist) -> Result<Option<FeedForm>, serde_json::Error> {
    let Some(pbx) = pbx_of(persist) else {
        return Ok(None);
    };
    let (kind, payload) = match persist {
        Persist::Change(change) => {
            let payload = match change {
                Change::Extension(e) => serde_json::to_string(e.as_ref()),
                Change::CallStarted(c) | Change::CallUpdated(c) | Change::CallEnded(c) => {
                    serde_json::to_string(c.as_ref())
                }
                Change::Connection(s) => serde_json::to_string(s.as_ref()),
                Change::RefreshCompleted(r) => serde_json::to_string(r.as_ref()),
                Change::Queue(q) => serde_json::to_string(q.as_ref()),
            }?;
            (change.kind(), payload)
        }
        Persist::Confirmed(c) => (
            CONFIRMED,
            serde_json::to_string(&ConfirmedPayload {
                extensions: c.extensions.clone(),
                at: c.at,
            })?,
        ),
        Persist::Snapshot(s) => (SNAPSHOT, serde_json::to_string(s.as_ref())?),
    };
    Ok(Some(FeedForm {
        pbx: pbx.to_string(),
        kind,
        payload,
    }))
}

/// A feed entry of `pbx` (its `kind` and JSON `payload`) as the change it records.
pub fn decode(pbx: &str, kind: &str, payload: &str) -> Result<Replayed, FeedFormError> {
    let p = payload;
    let change = match kind {
        "extension.status" => Change::Extension(Arc::new(serde_json::from_str(p)?)),
        "call.started" => Change::CallStarted(Arc::new(serde_json::from_str(p)?)),
        "call.updated" => Change::CallUpdated(Arc::new(serde_json::from_str(p)?)),
        "call.ended" => Change::CallEnded(Arc::new(serde_json::from_str(p)?)),
        "ami.connection" => Change::Connection(Arc::new(serde_json::from_str(p)?)),
        "refresh.completed" => Change::RefreshCompleted(Arc::new(serde_json::from_str(p)?)),
        "queue.updated" => Change::Queue(Arc::new(serde_json::from_str(p)?)),
        CONFIRMED => {
            let c: ConfirmedPayload = serde_json::from_str(p)?;
            return Ok(Replayed::Confirmed(Confirmed {
                pbx: Arc::from(pbx),
                extensions: c.extensions,
                at: c.at,
            }));
        }
        SNAPSHOT => return Ok(Replayed::Snapshot(Arc::new(serde_json::from_str(p)?))),
        other => return Err(FeedFormError::UnknownKind(other.to_string())),
    };
    Ok(Replayed::Change(change))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Extension, HintStatus};

    fn back(form: &FeedForm) -> Result<Replayed, FeedFormError> {
        decode(&form.pbx, form.kind, &form.payload)
    }

    #[test]
    fn an_extension_change_round_trips() {
        let e = Extension {
            pbx: "north".into(),
            extension: "1001".into(),
            context: "from-internal".into(),
            hint: Some("PJSIP/1001".into()),
            name: None,
            name_source: None,
            status: HintStatus(1),
            status_text: "InUse".into(),
            state: crate::model::ExtensionState::InUse,
            device_state: None,
            // The API's precision: the payload is the WebSocket's JSON, milliseconds.
            last_change: chrono::SubsecRound::trunc_subsecs(Utc::now(), 3),
            last_confirmed: None,
        };
        let form = encode(&Persist::Change(Change::Extension(Arc::new(e.clone()))))
            .expect("encodes")
            .expect("has a pbx");
        assert_eq!(
            (form.pbx.as_str(), form.kind),
            ("north", "extension.status")
        );
        match back(&form).expect("decodes") {
            Replayed::Change(Change::Extension(back)) => assert_eq!(*back, e),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn confirmations_round_trip_and_unknown_kinds_fail() {
        let c = Confirmed {
            pbx: Arc::from("south"),
            extensions: vec!["1001".into(), "1002".into()],
            at: Utc::now(),
        };
        let form = encode(&Persist::Confirmed(c.clone()))
            .expect("encodes")
            .expect("has a pbx");
        match back(&form).expect("decodes") {
            Replayed::Confirmed(back) => {
                assert_eq!(&*back.pbx, "south");
                assert_eq!(back.extensions, c.extensions);
                assert_eq!(back.at, c.at);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            decode("south", "nonsense", &form.payload),
            Err(FeedFormError::UnknownKind(k)) if k == "nonsense"
        ));
    }

    #[test]
    fn a_refresh_without_a_pbx_has_no_feed_form() {
        let refresh =
            Change::RefreshCompleted(Arc::new(crate::model::refresh::RefreshReport::example("")));
        assert_eq!(encode(&Persist::Change(refresh)).expect("encodes"), None);
    }
}
