//! [`EventFilter`]: which events the PBX is asked to send (`AMI_EVENT_FILTER`), as
//! Asterisk's manager `Filter` actions.
//!
//! Asterisk matches each filter, a POSIX extended regular expression, anywhere in
//! the event's text; once one filter without `!` is installed, only events matching
//! some such filter are sent (a whitelist), and a session's filters cannot be
//! removed again (`Operation: Remove` answers `Unknown operation`). So the list is
//! installed once, right after login, and must hold every event the service reads
//! — a missing name would silently starve the state.
//!
//! Names are grouped into alternations (`Event: (Newchannel|Newstate|…)`) so the
//! PBX runs a handful of regular expressions per event rather than one per name; a
//! group stays under [`MAX_PATTERN`] bytes because Asterisk keeps at most 256 bytes
//! of a header line. A name also matches longer names it begins (`Hangup` lets
//! `HangupRequest` through): harmless, the codec skips what nothing reads.

use super::action::Action;
use super::consumed::auto_filter_names;

/// Longest filter value sent, well under Asterisk's 256-byte header line.
pub const MAX_PATTERN: usize = 200;

/// What `AMI_EVENT_FILTER` asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EventFilter {
    /// No filter: the PBX sends every event.
    Off,
    /// Exactly the events the service reads ([`super::consumed::CONSUMED`]).
    #[default]
    Auto,
    /// These event names only (the operator's own list).
    Names(Vec<String>),
}

/// Why an `AMI_EVENT_FILTER` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterParseError(String);

impl EventFilter {
    /// Parses `auto`, `off` or a comma list of event names.
    pub fn parse(text: &str) -> Result<Self, FilterParseError> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("auto") {
            return Ok(Self::Auto);
        }
        if text.eq_ignore_ascii_case("off") {
            return Ok(Self::Off);
        }
        let mut names = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let valid = name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !valid {
                return Err(FilterParseError(format!(
                    "{name:?} is not an event name (letters, digits, '-' and '_'; \
                     or use auto / off)"
                )));
            }
            names.push(name.to_string());
        }
        if names.is_empty() {
            return Err(FilterParseError(
                "an empty list would drop every event; use auto or off".into(),
            ));
        }
        Ok(Self::Names(names))
    }

    /// The event names asked for; empty when off.
    pub fn names(&self) -> Vec<String> {
        match self {
            Self::Off => Vec::new(),
            Self::Auto => auto_filter_names().into_iter().map(String::from).collect(),
            Self::Names(names) => names.clone(),
        }
    }

    /// The filter expressions to install, in order; empty when off.
    pub fn patterns(&self) -> Vec<String> {
        let names = self.names();
        let mut patterns = Vec::new();
        let mut group: Vec<&str> = Vec::new();
        let len = |g: &[&str]| "Event: ()".len() + g.iter().map(|n| n.len() + 1).sum::<usize>();
        for name in &names {
            group.push(name);
            if group.len() > 1 && len(&group) > MAX_PATTERN {
                group.pop();
                patterns.push(pattern(&group));
                group = vec![name];
            }
        }
        if !group.is_empty() {
            patterns.push(pattern(&group));
        }
        patterns
    }

    /// The `Filter` actions that install [`Self::patterns`].
    pub fn actions(&self) -> Vec<Action> {
        self.patterns().into_iter().map(filter_add).collect()
    }
}

fn pattern(names: &[&str]) -> String {
    match names {
        [one] => format!("Event: {one}"),
        _ => format!("Event: ({})", names.join("|")),
    }
}

/// `Action: Filter` adding `expression`, as the filter capture sends it.
pub fn filter_add(expression: String) -> Action {
    Action::new("Filter")
        .header("Operation", "Add")
        .header("Filter", expression)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms_and_refuses_what_is_no_name() {
        assert_eq!(EventFilter::parse(" AUTO "), Ok(EventFilter::Auto));
        assert_eq!(EventFilter::parse("off"), Ok(EventFilter::Off));
        assert_eq!(
            EventFilter::parse("Newchannel, Hangup,"),
            Ok(EventFilter::Names(vec![
                "Newchannel".into(),
                "Hangup".into()
            ]))
        );
        for bad in ["", " , ", "Event: X", "a|b", "Hang up"] {
            assert!(EventFilter::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn patterns_cover_every_name_once_and_stay_short() {
        let filter = EventFilter::Auto;
        let patterns = filter.patterns();
        assert!(patterns.len() > 1, "the auto list needs several groups");
        let mut seen = Vec::new();
        for p in &patterns {
            assert!(p.len() <= MAX_PATTERN, "{p}");
            let inner = p.strip_prefix("Event: ").expect("prefix");
            let inner = inner.trim_start_matches('(').trim_end_matches(')');
            seen.extend(inner.split('|').map(String::from));
        }
        assert_eq!(seen, filter.names());
        assert!(EventFilter::Off.patterns().is_empty());
        assert_eq!(
            EventFilter::Names(vec!["Hangup".into()]).patterns(),
            vec!["Event: Hangup".to_string()]
        );
    }
}
