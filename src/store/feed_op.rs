//! The change-feed row of a stored write (cluster mode): the store writer appends
//! it in the same transaction as the state it describes.

use super::feed::FeedRow;
use crate::delivery::feed_form;
use crate::delivery::Persist;

/// The feed row of `persist`, written by `instance` (`None`: it belongs to no PBX).
pub fn feed_row(persist: &Persist, instance: &str) -> Result<Option<FeedRow>, serde_json::Error> {
    Ok(feed_form::encode(persist)?.map(|form| FeedRow {
        pbx: form.pbx,
        kind: form.kind.to_string(),
        payload: form.payload,
        instance: instance.to_string(),
    }))
}
