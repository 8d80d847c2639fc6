//! Where a history page ends: the cursor `?after=` continues from.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::models::CallRow;

/// A place in the history's order: the last call of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCursor {
    /// The call's start, as stored (microseconds).
    pub started_at: NaiveDateTime,
    /// The call's id.
    pub id: String,
    /// The call's PBX.
    pub pbx: String,
}

impl HistoryCursor {
    /// The cursor that continues after `row`.
    pub(super) fn after(row: &CallRow) -> Self {
        Self {
            started_at: row.started_at,
            id: row.id.clone(),
            pbx: row.pbx.clone(),
        }
    }

    /// The opaque text clients pass back as `?after=`: hex, so it needs no
    /// escaping in a URL whatever the id and PBX name hold.
    pub fn encode(&self) -> String {
        let micros = self.started_at.and_utc().timestamp_micros();
        let plain = format!("{micros}\n{}\n{}", self.pbx, self.id);
        plain.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads [`HistoryCursor::encode`]'s text; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        if text.len() % 2 != 0 || text.len() > 2048 {
            return None;
        }
        let bytes = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        let plain = String::from_utf8(bytes).ok()?;
        let mut parts = plain.splitn(3, '\n');
        let micros: i64 = parts.next()?.parse().ok()?;
        let pbx = parts.next()?.to_string();
        let id = parts.next()?.to_string();
        let started_at = DateTime::<Utc>::from_timestamp_micros(micros)?.naive_utc();
        Some(Self {
            started_at,
            id,
            pbx,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_cursor_reads_back_as_it_was(
            micros in -62_000_000_000_000_000i64..200_000_000_000_000_000i64,
            id in "\\PC{0,40}",
            pbx in "\\PC{0,20}",
        ) {
            let started_at = DateTime::<Utc>::from_timestamp_micros(micros)
                .map(|t| t.naive_utc());
            prop_assume!(started_at.is_some());
            let cursor = HistoryCursor { started_at: started_at.unwrap_or_default(), id, pbx };
            prop_assert_eq!(HistoryCursor::decode(&cursor.encode()), Some(cursor));
        }

        #[test]
        fn any_text_decodes_or_is_refused_without_panicking(text in "\\PC{0,200}") {
            let _ = HistoryCursor::decode(&text);
        }
    }

    #[test]
    fn malformed_cursors_are_refused() {
        for text in ["", "0", "zz", "31", "310a", "ff0a0a"] {
            assert_eq!(HistoryCursor::decode(text), None, "{text:?}");
        }
    }
}
