//! Answers to the queries `switchboard doctor` asks besides the hints and channels:
//! `Filter` (accepted as
//! Asterisk accepts it; the simulator's sessions share one event feed, so the
//! filter is answered but not applied). Shapes copy the queries and filter captures.

use super::wire::Wire;
use crate::ami::RawMessage;

/// Answers `action` (lower-case) when it is one of this file's; false otherwise.
pub(super) fn answer(action: &str, m: &RawMessage, w: &mut Wire) -> bool {
    let id = m.get("ActionID");
    match action {
        "filter" => {
            let add = m
                .get("Operation")
                .is_none_or(|o| o.eq_ignore_ascii_case("add"));
            if !add {
                w.reply("Error", id, "Unknown operation");
            } else if m.get("Filter").is_none_or(str::is_empty) {
                w.reply("Error", id, "Filter Add requires a Filter");
            } else {
                w.reply("Success", id, "Success");
            }
        }
        _ => return false,
    }
    true
}
