//! `GET /api/calls/history?format=csv`: the filtered history as a CSV download.
//!
//! The rows are read page by page from the store while the body is sent, so an
//! export of many calls never sits in memory whole; it stops after
//! [`CSV_MAX_ROWS`] (the last line then says so). The time range is pinned when the
//! export starts, so calls that finish meanwhile do not shift the pages.
//!
//! Cells are quoted as RFC 4180 says (a cell with a comma, quote or line break is
//! quoted, quotes doubled), and a cell that a spreadsheet would run as a formula —
//! starting with `=`, `+`, `-`, `@`, a tab or a carriage return — gets a leading
//! `'` (OWASP's advice for CSV injection): caller names and numbers come from
//! outside. A plain international number such as `+4930123` is left as it is; it
//! holds nothing a spreadsheet could run.

use actix_web::{web, HttpResponse};
use bytes::Bytes;
use chrono::Utc;

use super::error::ApiError;
use crate::model::{Call, Direction};
use crate::store::{CallHistoryQuery, Store};

/// Most rows one export writes.
pub const CSV_MAX_ROWS: i64 = 100_000;

/// Rows read from the store at a time.
const PAGE: i64 = 500;

/// The header line.
pub const HEADER: &str = "id,pbx,startedAt,answeredAt,endedAt,direction,outcome,callerNumber,callerName,calleeNumber,calleeName,durationSecs,talkSecs,queue,transfers,hangupCause,hangupCauseText\r\n";

/// One cell, quoted and defused as the module docs say.
pub fn cell(value: &str) -> String {
    let is_phone_number = value.starts_with('+')
        && value.len() > 1
        && value[1..].chars().all(|c| c.is_ascii_digit() || c == ' ');
    let risky = value.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_phone_number;
    let value = if risky {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

fn direction_word(d: Direction) -> &'static str {
    match d {
        Direction::Internal => "internal",
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
        Direction::Unknown => "unknown",
    }
}

/// One call as a CSV line (with its CRLF).
pub fn row(c: &Call) -> String {
    let time = |t: Option<chrono::DateTime<Utc>>| {
        t.map(|t| crate::timefmt::millis(&t)).unwrap_or_default()
    };
    let text = |s: &Option<String>| cell(s.as_deref().unwrap_or(""));
    let transfers: Vec<&str> = c.transfers.iter().map(|t| t.as_str()).collect();
    let fields = [
        cell(&c.id),
        cell(&c.pbx),
        time(Some(c.started_at)),
        time(c.answered_at),
        time(c.ended_at),
        direction_word(c.direction).to_string(),
        c.outcome.map(|o| o.as_str()).unwrap_or("").to_string(),
        text(&c.caller.number),
        text(&c.caller.name),
        text(&c.callee.number),
        text(&c.callee.name),
        format!("{:.3}", c.duration_secs),
        format!("{:.3}", c.talk_secs),
        text(&c.queue),
        cell(&transfers.join(" ")),
        c.hangup_cause.map(|h| h.to_string()).unwrap_or_default(),
        text(&c.hangup_cause_text),
    ];
    let mut line = fields.join(",");
    line.push_str("\r\n");
    line
}

/// Where the export is.
struct Export {
    store: Store,
    query: CallHistoryQuery,
    written: i64,
    done: bool,
}

/// The next chunk of the body: a page of rows, the closing note, or the end.
async fn next_chunk(mut ex: Export) -> Option<(Result<Bytes, std::io::Error>, Export)> {
    if ex.done {
        return None;
    }
    if ex.written >= CSV_MAX_ROWS {
        ex.done = true;
        let note = format!("# export stopped after {CSV_MAX_ROWS} rows; narrow the filters\r\n");
        return Some((Ok(Bytes::from(note)), ex));
    }
    // Page by cursor: each page costs what the first does, and no count is made.
    let mut query = ex.query.clone();
    query.limit = PAGE.min(CSV_MAX_ROWS - ex.written);
    query.offset = 0;
    query.count_total = false;
    let store = ex.store.clone();
    let page = web::block(move || store.call_history(&query)).await;
    let calls = match page {
        Ok(Ok(found)) => {
            ex.query.after = found.next;
            found.calls
        }
        // The status line is sent already: the client sees a cut-off body, the log says why.
        Ok(Err(e)) => {
            log::error!("CSV export: reading call history failed: {e}");
            ex.done = true;
            return Some((Err(std::io::Error::other(e.to_string())), ex));
        }
        Err(e) => {
            log::error!("CSV export: reading call history failed: {e}");
            ex.done = true;
            return Some((Err(std::io::Error::other(e.to_string())), ex));
        }
    };
    if calls.is_empty() {
        return None;
    }
    ex.written += calls.len() as i64;
    ex.done = ex.query.after.is_none() && ex.written < CSV_MAX_ROWS;
    let body: String = calls.iter().map(row).collect();
    Some((Ok(Bytes::from(body)), ex))
}

/// The export's response: the header line, then the rows as they are read.
pub fn export(store: Store, mut query: CallHistoryQuery) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    query.after = None;
    query.to = Some(query.to.map_or(now, |t| t.min(now)));
    let name = format!("calls-{}.csv", now.format("%Y%m%d-%H%M%S"));
    let first = futures::stream::once(async { Ok::<_, std::io::Error>(Bytes::from(HEADER)) });
    let rows = futures::stream::unfold(
        Export {
            store,
            query,
            written: 0,
            done: false,
        },
        next_chunk,
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}\""),
        ))
        .streaming(futures::StreamExt::chain(first, rows)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("-2+3"), "'-2+3");
        assert_eq!(cell("+1 (555)"), "'+1 (555)");
        assert_eq!(cell("+4930123"), "+4930123");
        assert_eq!(cell("\tx"), "'\tx");
        assert_eq!(cell("Zoë 电话"), "Zoë 电话");
    }

    #[test]
    fn a_row_has_every_column() {
        let mut c = Call::new("main", "peer-1.0", Utc::now());
        c.caller.name = Some("=cmd|' /C calc'!A0".into());
        c.caller.number = Some("1001".into());
        let line = row(&c);
        assert!(line.ends_with("\r\n"));
        assert!(line.contains(",'=cmd|' /C calc'!A0,"), "{line}");
        assert_eq!(line.matches(',').count(), HEADER.matches(',').count());
    }
}
