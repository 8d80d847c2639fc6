//! The search terms `?q=` finds a finished call by (the `call_search` table).

use std::collections::BTreeSet;

use diesel::prelude::*;

use super::{db_time, DbTime};
use crate::model::Call;
use crate::store::schema::{call_search, calls};

/// The longest term stored: a longer `?q=` is refused, so a match is never a
/// guess from a cut term.
pub const MAX_TERM_CHARS: usize = 32;

/// One search term of a finished call.
#[derive(Debug, Insertable)]
#[diesel(table_name = call_search)]
pub struct NewSearchTerm<'a> {
    pub term: String,
    pub started_at: DbTime,
    pub call_id: &'a str,
    pub pbx: &'a str,
}

impl<'a> NewSearchTerm<'a> {
    /// Every term `?q=` finds `call` by, each once (see [`terms_of`]).
    pub fn all_of(call: &'a Call) -> Vec<Self> {
        terms_of_texts([
            call.caller.number.as_deref(),
            call.callee.number.as_deref(),
            call.caller.name.as_deref(),
            call.callee.name.as_deref(),
        ])
        .into_iter()
        .map(|term| Self {
            term,
            started_at: db_time(call.started_at),
            call_id: &call.id,
            pbx: &call.pbx,
        })
        .collect()
    }
}

/// What a stored finished call's terms are made of, with its key: `call_search`
/// has no foreign key to `calls` (see the `search_terms_unlinked` migration), so
/// whoever deletes or replaces a call reads this first and deletes the terms it
/// gives by their key.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = calls)]
pub struct TermSource {
    pub pbx: String,
    pub id: String,
    pub started_at: chrono::NaiveDateTime,
    pub caller_number: Option<String>,
    pub callee_number: Option<String>,
    pub caller_name: Option<String>,
    pub callee_name: Option<String>,
}

impl TermSource {
    /// The terms the writer stored for this call (the same as
    /// [`NewSearchTerm::all_of`] gave when it was written).
    pub fn terms(&self) -> BTreeSet<String> {
        terms_of_texts([
            self.caller_number.as_deref(),
            self.callee_number.as_deref(),
            self.caller_name.as_deref(),
            self.callee_name.as_deref(),
        ])
    }
}

/// The terms of a call's numbers and names (caller's and callee's), each once.
fn terms_of_texts(texts: [Option<&str>; 4]) -> BTreeSet<String> {
    let mut terms = BTreeSet::new();
    for text in texts.into_iter().flatten() {
        terms.extend(terms_of(text));
    }
    terms
}

/// The form a search text and the stored terms are compared in.
pub fn search_key(text: &str) -> String {
    text.trim().to_lowercase()
}

/// The terms of one number or name: every prefix (up to [`MAX_TERM_CHARS`]
/// characters) of the lower-cased text and of each tail of it that starts a
/// word, so `mar` finds "Alice Martin" and `+3361` finds "+33 612…". The
/// migration's backfill computes the same in SQL.
pub fn terms_of(text: &str) -> BTreeSet<String> {
    let key = search_key(text);
    let chars: Vec<char> = key.chars().collect();
    let starts = (0..chars.len()).filter(|&i| chars[i] != ' ' && (i == 0 || chars[i - 1] == ' '));
    let mut terms = BTreeSet::new();
    for start in starts {
        let tail = &chars[start..];
        for len in 1..=tail.len().min(MAX_TERM_CHARS) {
            terms.insert(tail[..len].iter().collect());
        }
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_found_by_the_start_of_any_word() {
        let terms = terms_of(" Alice  Martin ");
        for t in [
            "a",
            "alice",
            "alice  m",
            "alice  martin",
            "m",
            "mar",
            "martin",
        ] {
            assert!(terms.contains(t), "{t:?} in {terms:?}");
        }
        assert!(!terms.contains("artin"));
        assert!(!terms.contains(" martin"));
        assert!(!terms.contains("Alice"));
    }

    #[test]
    fn terms_stop_at_the_longest_stored() {
        let terms = terms_of(&"x".repeat(40));
        assert_eq!(terms.len(), MAX_TERM_CHARS);
        assert!(terms.iter().all(|t| t.chars().count() <= MAX_TERM_CHARS));
    }
}
