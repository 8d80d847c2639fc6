//! What a refresh (a re-read of extension states over a separate AMI login)
//! reports: the HTTP answer's per-PBX `data`, the `refresh.completed` WebSocket
//! message, the store's refresh row and the cluster feed's payload are all this one
//! typed report, so no consumer reads it back by key names.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::HintStatus;

/// One extension's answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RefreshResult {
    /// The extension.
    pub extension: String,
    /// Its PBX (a whole-board refresh lists several PBXs' extensions together).
    pub pbx: String,
    /// True when the PBX answered.
    pub success: bool,
    /// Numeric status, when answered.
    pub status: Option<HintStatus>,
    /// Status text.
    pub status_text: Option<String>,
    /// Broad state.
    pub state: Option<String>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// Query counts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RefreshStatistics {
    /// Extensions the PBX answered for.
    pub successful_queries: usize,
    /// Extensions that failed or timed out.
    pub failed_queries: usize,
}

/// A correction made because the PBX disagreed with what switchboard believed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionCorrection {
    /// The extension.
    pub extension: String,
    /// What switchboard believed.
    pub believed: HintStatus,
    /// What the PBX said.
    pub actual: HintStatus,
}

/// The `data` of a refresh answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RefreshReport {
    /// The refresh session's id.
    pub connection_id: String,
    /// The PBX.
    pub pbx: String,
    /// How many extensions were read.
    pub extensions_checked: usize,
    /// When the reading finished.
    #[serde(serialize_with = "crate::timefmt::utc")]
    pub last_query_time: DateTime<Utc>,
    /// Query counts.
    pub statistics: RefreshStatistics,
    /// Per-extension answers.
    pub results: Vec<RefreshResult>,
    /// States switchboard had wrong and corrected.
    pub corrections: Vec<ExtensionCorrection>,
    /// Wall time of the refresh, login to logoff, in milliseconds.
    pub duration_ms: f64,
}

impl RefreshReport {
    /// A report of no extensions, for tests of what carries reports.
    #[cfg(test)]
    pub(crate) fn example(pbx: &str) -> Self {
        Self {
            connection_id: "refresh-1".into(),
            pbx: pbx.into(),
            extensions_checked: 0,
            last_query_time: DateTime::UNIX_EPOCH,
            statistics: RefreshStatistics::default(),
            results: Vec::new(),
            corrections: Vec::new(),
            duration_ms: 0.0,
        }
    }

    /// When the refresh began: the end less its duration.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.last_query_time - chrono::Duration::microseconds((self.duration_ms * 1000.0) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> RefreshReport {
        RefreshReport {
            connection_id: "refresh-7".into(),
            pbx: "north".into(),
            extensions_checked: 2,
            last_query_time: "2026-12-07T03:00:00.250Z".parse().expect("time"),
            statistics: RefreshStatistics {
                successful_queries: 1,
                failed_queries: 1,
            },
            results: vec![
                RefreshResult {
                    extension: "1001".into(),
                    pbx: "north".into(),
                    success: true,
                    status: Some(HintStatus(1)),
                    status_text: Some("InUse".into()),
                    state: Some("busy".into()),
                    error: None,
                },
                RefreshResult {
                    extension: "1002".into(),
                    pbx: "north".into(),
                    success: false,
                    status: None,
                    status_text: None,
                    state: None,
                    error: Some("no answer before the refresh timed out".into()),
                },
            ],
            corrections: vec![ExtensionCorrection {
                extension: "1001".into(),
                believed: HintStatus(0),
                actual: HintStatus(1),
            }],
            duration_ms: 12.5,
        }
    }

    #[test]
    fn the_report_keeps_the_wire_names_and_reads_back_what_it_wrote() {
        let r = report();
        let json = serde_json::to_value(&r).expect("serialize");
        assert_eq!(json["connectionId"], "refresh-7");
        assert_eq!(json["lastQueryTime"], "2026-12-07T03:00:00.250Z");
        assert_eq!(json["statistics"]["failedQueries"], 1);
        assert_eq!(json["results"][0]["statusText"], "InUse");
        assert_eq!(json["results"][1]["status"], serde_json::Value::Null);
        assert_eq!(json["corrections"][0]["believed"], 0);
        assert_eq!(json["durationMs"], 12.5);
        let text = serde_json::to_string(&r).expect("serialize");
        let back: RefreshReport = serde_json::from_str(&text).expect("the feed decodes it");
        assert_eq!(back, r);
    }

    #[test]
    fn the_start_is_the_end_less_the_duration() {
        let r = report();
        assert_eq!(
            (r.last_query_time - r.started_at()).num_microseconds(),
            Some(12_500)
        );
    }
}
