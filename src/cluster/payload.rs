//! What a change looks like in the feed: its WebSocket type as `kind`, and the
//! same JSON object subscribers receive as `data` as `payload` (or, for extensions
//! a resync confirmed, `{"extensions": [...], "at": ...}`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::feed::{FeedRow, StoredRow};
use super::snapshot::CallsSnapshot;
use super::ClusterError;
use crate::actors::hub::Persist;
use crate::actors::messages::Change;
use crate::actors::router::Confirmed;

/// The feed kind of a [`Confirmed`].
const CONFIRMED: &str = "confirmed";
/// The feed kind of a [`CallsSnapshot`].
const SNAPSHOT: &str = "calls.snapshot";

#[derive(Serialize, Deserialize)]
struct ConfirmedPayload {
    extensions: Vec<String>,
    at: DateTime<Utc>,
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
            Change::RefreshCompleted(r) => Some(&r.pbx),
        },
        Persist::Confirmed(c) => Some(&c.pbx),
        Persist::Snapshot(s) => Some(&s.pbx),
    }
}

/// The feed row of a stored write, written by `instance`.
pub fn encode(persist: &Persist, instance: &str) -> Result<Option<FeedRow>, ClusterError> {
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
    Ok(Some(FeedRow {
        pbx: pbx.to_string(),
        kind: kind.to_string(),
        payload,
        instance: instance.to_string(),
    }))
}

/// A stored row as the change it records.
pub fn decode(row: &StoredRow) -> Result<Replayed, ClusterError> {
    let p = row.payload.as_str();
    let change = match row.kind.as_str() {
        "extension.status" => Change::Extension(Arc::new(serde_json::from_str(p)?)),
        "call.started" => Change::CallStarted(Arc::new(serde_json::from_str(p)?)),
        "call.updated" => Change::CallUpdated(Arc::new(serde_json::from_str(p)?)),
        "call.ended" => Change::CallEnded(Arc::new(serde_json::from_str(p)?)),
        "ami.connection" => Change::Connection(Arc::new(serde_json::from_str(p)?)),
        "refresh.completed" => Change::RefreshCompleted(Arc::new(serde_json::from_str(p)?)),
        CONFIRMED => {
            let c: ConfirmedPayload = serde_json::from_str(p)?;
            return Ok(Replayed::Confirmed(Confirmed {
                pbx: Arc::from(row.pbx.as_str()),
                extensions: c.extensions,
                at: c.at,
            }));
        }
        SNAPSHOT => return Ok(Replayed::Snapshot(Arc::new(serde_json::from_str(p)?))),
        other => return Err(ClusterError::UnknownKind(other.to_string())),
    };
    Ok(Replayed::Change(change))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Extension, HintStatus};

    fn stored(row: FeedRow) -> StoredRow {
        StoredRow {
            id: 1,
            pbx: row.pbx,
            kind: row.kind,
            payload: row.payload,
            instance: row.instance,
        }
    }

    #[test]
    fn an_extension_change_round_trips() {
        let e = Extension {
            pbx: "north".into(),
            extension: "1001".into(),
            context: "from-internal".into(),
            hint: Some("PJSIP/1001".into()),
            name: None,
            status: HintStatus(1),
            status_text: "InUse".into(),
            state: "inUse".into(),
            device_state: None,
            // The API's precision: the payload is the WebSocket's JSON, milliseconds.
            last_change: chrono::SubsecRound::trunc_subsecs(Utc::now(), 3),
            last_confirmed: None,
        };
        let row = encode(
            &Persist::Change(Change::Extension(Arc::new(e.clone()))),
            "i1",
        )
        .expect("encodes")
        .expect("has a pbx");
        assert_eq!(
            (row.pbx.as_str(), row.kind.as_str()),
            ("north", "extension.status")
        );
        match decode(&stored(row)).expect("decodes") {
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
        let row = encode(&Persist::Confirmed(c.clone()), "i1")
            .expect("encodes")
            .expect("has a pbx");
        match decode(&stored(row.clone())).expect("decodes") {
            Replayed::Confirmed(back) => {
                assert_eq!(back.extensions, c.extensions);
                assert_eq!(back.at, c.at);
            }
            other => panic!("unexpected {other:?}"),
        }
        let mut bad = stored(row);
        bad.kind = "nonsense".into();
        assert!(decode(&bad).is_err());
    }
}
