//! One reader for the time parameters of the history routes (`at`, `from`, `to`),
//! so `/api/extensions/{exten}/history` and `/api/calls/history` accept the same
//! forms and refuse a bad one with the same message.
//!
//! Accepted: RFC 3339 with any offset; a date alone (midnight UTC); epoch seconds,
//! or milliseconds when there are more than 11 digits (11 digits of seconds reach
//! the year 5138, so a longer number can only be milliseconds). A `+` of an offset
//! that URL decoding turned into a space (clients often forget to escape it) is
//! read as the `+` it was.

use chrono::{DateTime, NaiveDate, Utc};

use super::error::{ApiError, ErrorCode};

/// Digits beyond which an epoch number is milliseconds rather than seconds.
const MAX_SECONDS_DIGITS: usize = 11;

/// How much of a refused value the error message repeats.
const ECHO_CHARS: usize = 64;

/// Reads the time parameter `name`, or answers 400 `INVALID_QUERY` naming it and
/// the accepted forms.
pub fn parse_time(name: &str, raw: &str) -> Result<DateTime<Utc>, ApiError> {
    read(raw.trim()).ok_or_else(|| {
        let shown: String = raw.chars().take(ECHO_CHARS).collect();
        ApiError::new(
            ErrorCode::InvalidQuery,
            format!(
                "{name} must be RFC 3339 (2026-12-07T10:32:00Z, 2026-12-07T11:32:00+01:00), \
                 a date (2026-12-07, midnight UTC) or epoch seconds or milliseconds, \
                 not {shown:?}"
            ),
        )
    })
}

/// Reads an optional time parameter.
pub fn parse_opt_time(name: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    raw.map(|r| parse_time(name, r)).transpose()
}

fn read(s: &str) -> Option<DateTime<Utc>> {
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return epoch(s);
    }
    if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(date.and_hms_opt(0, 0, 0)?.and_utc());
    }
    if let Some(t) = rfc3339(s) {
        return Some(t);
    }
    // The offset's `+` decoded as a space: only the last space can be it.
    let at = s.rfind(' ')?;
    rfc3339(&format!("{}+{}", &s[..at], &s[at + 1..]))
}

/// RFC 3339, also with a space for the `T` (chrono's relaxed reading, as before).
fn rfc3339(s: &str) -> Option<DateTime<Utc>> {
    s.parse::<DateTime<chrono::FixedOffset>>()
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn epoch(digits: &str) -> Option<DateTime<Utc>> {
    let n: i64 = digits.parse().ok()?;
    if digits.len() > MAX_SECONDS_DIGITS {
        DateTime::from_timestamp_millis(n)
    } else {
        DateTime::from_timestamp(n, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).single().unwrap()
    }

    #[test]
    fn rfc3339_with_any_offset() {
        let want = utc(2026, 12, 7, 10, 32, 0);
        for s in [
            "2026-12-07T10:32:00Z",
            "2026-12-07T11:32:00+01:00",
            "2026-12-07T05:02:00-05:30",
            "2026-12-07T10:32:00.000Z",
            "2026-12-07 10:32:00Z",
        ] {
            assert_eq!(parse_time("at", s).unwrap(), want, "{s}");
        }
        let fine = parse_time("at", "2026-12-07T10:32:00.123456Z").unwrap();
        assert_eq!(fine - want, chrono::Duration::microseconds(123_456));
    }

    #[test]
    fn a_plus_decoded_as_space_is_read_as_plus() {
        let want = utc(2026, 12, 7, 10, 32, 0);
        assert_eq!(parse_time("to", "2026-12-07T11:32:00 01:00").unwrap(), want);
        assert_eq!(
            parse_time("to", "2026-12-07T11:32:00.500 01:00").unwrap(),
            want + chrono::Duration::milliseconds(500)
        );
        assert_eq!(parse_time("to", "2026-12-07 11:32:00 01:00").unwrap(), want);
    }

    #[test]
    fn a_date_alone_is_midnight_utc() {
        assert_eq!(
            parse_time("from", "2026-12-07").unwrap(),
            utc(2026, 12, 7, 0, 0, 0)
        );
    }

    #[test]
    fn epoch_seconds_and_milliseconds() {
        let want = utc(2026, 12, 7, 10, 32, 0);
        let secs = want.timestamp();
        assert_eq!(parse_time("at", &secs.to_string()).unwrap(), want);
        assert_eq!(
            parse_time("at", &(secs * 1000 + 250).to_string()).unwrap(),
            want + chrono::Duration::milliseconds(250)
        );
        assert_eq!(parse_time("at", "0").unwrap(), utc(1970, 1, 1, 0, 0, 0));
        // 11 digits are still seconds, 12 are milliseconds.
        assert_eq!(
            parse_time("at", "10000000000").unwrap().timestamp(),
            10_000_000_000
        );
        assert_eq!(
            parse_time("at", "100000000000").unwrap().timestamp_millis(),
            100_000_000_000
        );
    }

    #[test]
    fn bad_input_names_the_parameter_and_the_forms() {
        for bad in [
            "",
            "yesterday",
            "10:32",
            "2024-13-45T00:00:00Z",
            "2026-12-07T10:32:00",
            "-5",
            "1.5",
            "99999999999999999999999",
            "2026-12-07T10:32:00Z 01:00",
        ] {
            let err = parse_time("from", bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidQuery, "{bad}");
            assert!(
                err.message.starts_with("from must be RFC 3339"),
                "{bad}: {}",
                err.message
            );
            assert!(
                err.message.contains("epoch seconds or milliseconds"),
                "{}",
                err.message
            );
        }
        assert_eq!(parse_opt_time("to", None).unwrap(), None);
    }
}
