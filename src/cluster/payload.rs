//! Feed rows as changes: the JSON form of a change ([`crate::delivery::feed_form`])
//! read back from a stored row. The store writer encodes rows
//! ([`crate::store::feed_op`]); this is the reading side.

use super::ClusterError;
pub use crate::delivery::feed_form::{pbx_of, Replayed};
use crate::store::feed::StoredRow;

/// A stored row as the change it records.
pub fn decode(row: &StoredRow) -> Result<Replayed, ClusterError> {
    Ok(crate::delivery::feed_form::decode(
        &row.pbx,
        &row.kind,
        &row.payload,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{Confirmed, Persist};
    use std::sync::Arc;

    #[test]
    fn a_stored_row_reads_back_as_what_the_writer_encoded() {
        let c = Confirmed {
            pbx: Arc::from("south"),
            extensions: vec!["1001".into()],
            at: chrono::Utc::now(),
        };
        let row = crate::store::feed_op::feed_row(&Persist::Confirmed(c.clone()), "i1")
            .expect("encodes")
            .expect("has a pbx");
        assert_eq!((row.pbx.as_str(), row.instance.as_str()), ("south", "i1"));
        let stored = StoredRow {
            id: 1,
            pbx: row.pbx,
            kind: row.kind,
            payload: row.payload,
            instance: row.instance,
        };
        match decode(&stored).expect("decodes") {
            Replayed::Confirmed(back) => assert_eq!(back.extensions, c.extensions),
            other => panic!("unexpected {other:?}"),
        }
        let bad = StoredRow {
            kind: "nonsense".into(),
            ..stored
        };
        assert!(matches!(decode(&bad), Err(ClusterError::Form(_))));
    }
}
