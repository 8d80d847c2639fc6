//! The one timestamp format of the API and the WebSocket: RFC 3339 UTC with
//! exactly three fraction digits and `Z` (`2026-12-02T15:04:05.123Z`), the format
//! of the service switchboard replaces (JavaScript's `toISOString`), so clients
//! parse every timestamp the same way; and the SQLite text diesel writes.
//!
//! Every change fanned out to WebSocket clients carries three to a dozen
//! timestamps (the message's, the call's, each leg's), and chrono writes each one
//! through `core::fmt` a character at a time: a quarter of the time spent
//! serialising a call. Here the digits go into a stack buffer in one pass. The
//! output is byte for byte chrono's `to_rfc3339_opts(SecondsFormat::Millis, true)`
//! (a property test compares them); anything outside years 0–9999 or a leap
//! second is handed to chrono itself.
//!
//! Use with `#[serde(serialize_with = "crate::timefmt::utc")]`, [`utc_opt`] for
//! an `Option`, or [`millis`] where a `String` is wanted (`json!`).

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serializer;

/// Longest output: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
const MAX_LEN: usize = 30;

/// Writes `t` in chrono's serde format into `buf`; the length written, or `None`
/// when `t` is outside what this fast path covers.
pub fn write(t: &DateTime<Utc>, buf: &mut [u8; MAX_LEN]) -> Option<usize> {
    let year = t.year();
    let nanos = t.nanosecond();
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return None;
    }
    fn put(buf: &mut [u8], at: usize, value: u32, digits: usize) {
        let mut v = value;
        for i in (0..digits).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    put(buf, 0, year as u32, 4);
    put(buf, 5, t.month(), 2);
    put(buf, 8, t.day(), 2);
    put(buf, 11, t.hour(), 2);
    put(buf, 14, t.minute(), 2);
    put(buf, 17, t.second(), 2);
    buf[4] = b'-';
    buf[7] = b'-';
    buf[10] = b'T';
    buf[13] = b':';
    buf[16] = b':';
    let mut len = 19;
    // chrono's `SecondsFormat::AutoSi`: as few of 3, 6 or 9 digits as show it exactly.
    let (value, digits) = if nanos == 0 {
        (0, 0)
    } else if nanos % 1_000_000 == 0 {
        (nanos / 1_000_000, 3)
    } else if nanos % 1_000 == 0 {
        (nanos / 1_000, 6)
    } else {
        (nanos, 9)
    };
    if digits > 0 {
        buf[len] = b'.';
        put(buf, len + 1, value, digits);
        len += 1 + digits;
    }
    buf[len] = b'Z';
    Some(len + 1)
}

/// Length of the API format, `YYYY-MM-DDTHH:MM:SS.mmmZ`.
const MILLIS_LEN: usize = 24;

/// Writes `t` in the API format (milliseconds, truncated) into `buf`, or `None`
/// when `t` is outside what this fast path covers.
pub fn write_millis(t: &DateTime<Utc>, buf: &mut [u8; MAX_LEN]) -> Option<usize> {
    let nanos = t.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    // Whole seconds: the fast path writes exactly the 19 characters of the date and time.
    let whole = *t - chrono::Duration::nanoseconds(i64::from(nanos));
    if write(&whole, buf)? != 20 {
        return None;
    }
    let ms = nanos / 1_000_000;
    buf[19] = b'.';
    buf[20] = b'0' + (ms / 100) as u8;
    buf[21] = b'0' + (ms / 10 % 10) as u8;
    buf[22] = b'0' + (ms % 10) as u8;
    buf[23] = b'Z';
    Some(MILLIS_LEN)
}

/// `t` in the API format, as a `String` (for `json!`).
pub fn millis(t: &DateTime<Utc>) -> String {
    let mut buf = [0u8; MAX_LEN];
    match write_millis(t, &mut buf) {
        // Only ASCII digits and punctuation were written.
        Some(n) => std::str::from_utf8(&buf[..n])
            .unwrap_or_default()
            .to_string(),
        None => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    }
}

/// The last instant of `t`'s millisecond when `t` is given at millisecond precision
/// (no digits below it), else `t`.
///
/// The API hands out timestamps truncated to the millisecond, so a client that asks
/// "what was the state at 10:30:56.789?" with one of them means that whole
/// millisecond: without this, the change the API showed at .789 (stored at
/// .789412) would fall after the instant asked for. Used for the inclusive upper
/// bounds of history queries (`at`, `to`).
pub fn end_of_millisecond(t: DateTime<Utc>) -> DateTime<Utc> {
    if t.nanosecond() % 1_000_000 == 0 {
        t.checked_add_signed(chrono::Duration::nanoseconds(999_999))
            .unwrap_or(t)
    } else {
        t
    }
}

/// [`millis`] for an optional timestamp, as JSON (`null` when absent).
pub fn millis_json(t: Option<&DateTime<Utc>>) -> serde_json::Value {
    t.map_or(serde_json::Value::Null, |t| {
        serde_json::Value::String(millis(t))
    })
}

/// Serialises a timestamp in the API format.
pub fn utc<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; MAX_LEN];
    match write_millis(t, &mut buf) {
        // Only ASCII digits and punctuation were written.
        Some(n) => s.serialize_str(std::str::from_utf8(&buf[..n]).unwrap_or_default()),
        None => s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
    }
}

/// [`utc`] for an optional timestamp (`null` when absent).
pub fn utc_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => utc(t, s),
        None => s.serialize_none(),
    }
}

/// A naive UTC instant as diesel writes a `Timestamp` into SQLite
/// (`format("%F %T%.f")`: `2026-12-02 15:04:05.123456`), without chrono's
/// formatting machinery: the store writes several per finished call and one per
/// extension change, and chrono's strftime path was a tenth of the store writer.
/// Anything outside years 0–9999 or a leap second is handed to chrono.
pub fn sqlite_text(t: &chrono::NaiveDateTime) -> String {
    let mut buf = [0u8; MAX_LEN];
    match write(&t.and_utc(), &mut buf) {
        Some(n) => {
            buf[10] = b' ';
            // Only ASCII digits and punctuation were written; the last is the `Z`.
            std::str::from_utf8(&buf[..n - 1])
                .unwrap_or_default()
                .to_string()
        }
        None => t.format("%F %T%.f").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    #[derive(serde::Serialize)]
    struct Fast<'a>(#[serde(serialize_with = "utc")] &'a DateTime<Utc>);

    fn fast(t: &DateTime<Utc>) -> String {
        serde_json::to_string(&Fast(t)).unwrap_or_default()
    }

    fn chrono(t: &DateTime<Utc>) -> String {
        format!(
            "\"{}\"",
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        )
    }

    #[test]
    fn always_three_fraction_digits() {
        let base = Utc
            .with_ymd_and_hms(2026, 12, 2, 9, 5, 7)
            .single()
            .expect("valid date");
        for nanos in [
            0,
            1,
            999,
            1_000,
            120_000,
            123_456_000,
            500_000_000,
            999_999_999,
        ] {
            let t = base + chrono::Duration::nanoseconds(nanos);
            assert_eq!(fast(&t), chrono(&t), "{nanos} ns");
        }
        assert_eq!(fast(&base), "\"2026-12-02T09:05:07.000Z\"");
        let t = base + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(fast(&t), "\"2026-12-02T09:05:07.123Z\"");
        assert_eq!(millis(&t), "2026-12-02T09:05:07.123Z");
    }

    #[test]
    fn a_millisecond_instant_reaches_to_the_end_of_its_millisecond() {
        let t = Utc
            .with_ymd_and_hms(2026, 12, 2, 9, 5, 7)
            .single()
            .expect("valid date")
            + chrono::Duration::milliseconds(789);
        let end = end_of_millisecond(t);
        assert_eq!(end - t, chrono::Duration::nanoseconds(999_999));
        assert_eq!(millis(&end), millis(&t));
        let finer = t + chrono::Duration::microseconds(412);
        assert_eq!(end_of_millisecond(finer), finer, "a finer instant is kept");
    }

    #[test]
    fn years_beyond_four_digits_go_to_chrono() {
        let t = Utc
            .with_ymd_and_hms(12345, 1, 1, 0, 0, 0)
            .single()
            .expect("valid date");
        let mut buf = [0u8; MAX_LEN];
        assert_eq!(write_millis(&t, &mut buf), None);
        assert_eq!(fast(&t), chrono(&t));
    }

    #[test]
    fn an_absent_timestamp_is_null() {
        #[derive(serde::Serialize)]
        struct Opt(#[serde(serialize_with = "utc_opt")] Option<DateTime<Utc>>);
        assert_eq!(
            serde_json::to_string(&Opt(None)).ok().as_deref(),
            Some("null")
        );
        let t = Utc
            .timestamp_opt(1_700_000_000, 1_000)
            .single()
            .expect("valid");
        assert_eq!(
            serde_json::to_string(&Opt(Some(t))).unwrap_or_default(),
            chrono(&t)
        );
    }

    /// Seconds from year 0 to 9999, the range `write` covers.
    const SECS: std::ops::Range<i64> = -62_135_596_800..253_402_300_799;

    /// Nanoseconds below `upper`, weighted to each fraction width (none, 3, 6, 9).
    fn nanos(upper: u32) -> impl Strategy<Value = u32> {
        prop_oneof![
            Just(0u32),
            (0u32..1_000).prop_map(|m| m * 1_000_000),
            (0u32..1_000_000).prop_map(|u| u * 1_000),
            0u32..upper,
        ]
    }

    proptest! {
        #[test]
        fn matches_chrono_everywhere(secs in SECS, nanos in nanos(1_000_000_000)) {
            let t = Utc.timestamp_opt(secs, nanos).single().expect("in range");
            prop_assert_eq!(fast(&t), chrono(&t));
        }

        #[test]
        fn sqlite_text_matches_diesels_format(secs in SECS, nanos in nanos(2_000_000_000)) {
            // Up to 2e9 ns: chrono's leap-second representation goes to its own path.
            if let Some(t) = chrono::DateTime::from_timestamp(secs, nanos) {
                let t = t.naive_utc();
                prop_assert_eq!(sqlite_text(&t), t.format("%F %T%.f").to_string());
            }
        }
    }
}
