//! The answer of `POST /api/extensions/hybrid-refresh`: the old service's fields
//! (`connectionId`, `extensionsChecked`, `lastQueryTime`, `statistics`, `results`)
//! summed over every PBX refreshed, and each PBX's own part in `pbxs`.
//!
//! A whole-board refresh answers 200 as long as one PBX was read: the PBXs that
//! failed are listed with their error in `pbxs`, because the page that asked cannot
//! act on a partial failure any better than by showing it. Only when every PBX
//! failed does the answer become that error (as for a single PBX).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::{ApiError, ErrorCode};
use crate::actors::messages::ExtensionCorrection;
use crate::actors::refresh::{RefreshError, RefreshResult, RefreshStatistics};
use crate::actors::refresh_manager::RefreshRun;

/// The `message` the old service's clients compare with.
pub const REFRESH_MESSAGE: &str =
    "Extension status refresh completed via separate Hybrid AMI connection";

/// An error in the API's shape, inside a per-PBX entry.
#[derive(Debug, Clone, Serialize)]
pub struct PbxError {
    /// Stable code, as the whole answer would carry it.
    pub code: ErrorCode,
    /// What went wrong.
    pub message: String,
}

/// One PBX's part of a refresh.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PbxPart {
    /// The PBX.
    pub pbx: String,
    /// Its refresh session (absent when it never started).
    pub connection_id: Option<String>,
    /// Extensions read on it.
    pub extensions_checked: usize,
    /// Its query counts.
    pub statistics: RefreshStatistics,
    /// Login to logoff, milliseconds (absent when it failed).
    pub duration_ms: Option<f64>,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<PbxError>,
}

/// The `data` of a refresh answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshAnswer {
    /// The run: the session's id for one PBX, the whole run's for several.
    pub connection_id: String,
    /// The PBX, when one was refreshed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pbx: Option<String>,
    /// Extensions read, all PBXs together.
    pub extensions_checked: usize,
    /// When the last PBX finished reading.
    #[serde(serialize_with = "crate::timefmt::utc")]
    pub last_query_time: DateTime<Utc>,
    /// Query counts, all PBXs together.
    pub statistics: RefreshStatistics,
    /// Per-extension answers, PBX after PBX (each names its `pbx`).
    pub results: Vec<RefreshResult>,
    /// States switchboard had wrong and corrected.
    pub corrections: Vec<ExtensionCorrection>,
    /// The longest PBX's refresh, milliseconds.
    pub duration_ms: f64,
    /// Each PBX's part.
    pub pbxs: Vec<PbxPart>,
}

impl RefreshAnswer {
    /// Counts in words, for logs and the `summary` field.
    pub fn summary(&self) -> String {
        format!(
            "Refreshed {} extensions on {} PBX(s): {} answered, {} failed, {} corrected",
            self.extensions_checked,
            self.pbxs.len(),
            self.statistics.successful_queries,
            self.statistics.failed_queries,
            self.corrections.len()
        )
    }
}

/// The HTTP status and code of a refresh error.
pub fn refresh_error(e: &RefreshError) -> ApiError {
    let code = match e {
        RefreshError::Unreachable(_) => ErrorCode::PbxUnreachable,
        RefreshError::LoginRefused(_) => ErrorCode::PbxLoginRefused,
        RefreshError::Busy(_) => ErrorCode::RefreshBusy,
        RefreshError::UnknownPbx(_) => ErrorCode::NotFound,
        RefreshError::Closed => ErrorCode::RefreshClosed,
    };
    ApiError::new(code, e.to_string())
}

/// Sums a run into one answer; the first PBX's error when every PBX failed.
pub fn answer(run: RefreshRun) -> Result<RefreshAnswer, ApiError> {
    if let Some(e) = run
        .pbxs
        .iter()
        .map(|p| p.result.as_ref().err())
        .collect::<Option<Vec<_>>>()
        .and_then(|errors| errors.first().copied())
    {
        return Err(refresh_error(e));
    }
    if run.pbxs.is_empty() {
        return Err(ApiError::not_found("no PBX to refresh"));
    }
    let single = run.pbxs.len() == 1;
    let mut out = RefreshAnswer {
        connection_id: run.connection_id,
        pbx: None,
        extensions_checked: 0,
        last_query_time: DateTime::<Utc>::MIN_UTC,
        statistics: RefreshStatistics::default(),
        results: Vec::new(),
        corrections: Vec::new(),
        duration_ms: 0.0,
        pbxs: Vec::with_capacity(run.pbxs.len()),
    };
    for part in run.pbxs {
        match part.result {
            Ok(r) => {
                out.pbxs.push(PbxPart {
                    pbx: part.pbx.clone(),
                    connection_id: Some(r.connection_id),
                    extensions_checked: r.extensions_checked,
                    statistics: r.statistics.clone(),
                    duration_ms: Some(r.duration_ms),
                    error: None,
                });
                out.extensions_checked += r.extensions_checked;
                out.statistics.successful_queries += r.statistics.successful_queries;
                out.statistics.failed_queries += r.statistics.failed_queries;
                out.last_query_time = out.last_query_time.max(r.last_query_time);
                out.duration_ms = out.duration_ms.max(r.duration_ms);
                out.results.extend(r.results);
                out.corrections.extend(r.corrections);
            }
            Err(e) => {
                let api = refresh_error(&e);
                out.pbxs.push(PbxPart {
                    pbx: part.pbx.clone(),
                    connection_id: None,
                    extensions_checked: 0,
                    statistics: RefreshStatistics::default(),
                    duration_ms: None,
                    error: Some(PbxError {
                        code: api.code,
                        message: api.message,
                    }),
                });
            }
        }
        if single {
            out.pbx = Some(part.pbx);
        }
    }
    Ok(out)
}
