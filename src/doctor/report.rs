//! [`Report`]: the doctor's verdict, one [`Check`] per line, printed for people
//! (`ok`/`warning`/`problem`, what was seen, the fix) or as one JSON object for
//! scripts; and the exit code (1 when any check is a problem).

use serde::Serialize;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// As the service needs it.
    Ok,
    /// The service works, with something missing (latency figures, Shutdown
    /// notices, queues) or at a risk; the fix says what to change.
    Warning,
    /// The service cannot do its job this way: no connection, no login, no call
    /// events, no database.
    Problem,
}

impl Level {
    /// The word printed at the start of the line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Problem => "problem",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// What was checked: `pbx default`, `database`, `http`, `tokens`.
    pub scope: String,
    /// The check's stable name within its scope (`login`, `action.Filter`, …).
    pub check: String,
    /// How it came out.
    pub level: Level,
    /// What was seen.
    pub message: String,
    /// What to change (the manager.conf line, the setting), when not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    /// An ok line.
    pub fn ok(scope: &str, check: &str, message: impl Into<String>) -> Self {
        Self {
            scope: scope.to_string(),
            check: check.to_string(),
            level: Level::Ok,
            message: message.into(),
            fix: None,
        }
    }

    /// A warning with its fix.
    pub fn warning(
        scope: &str,
        check: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            level: Level::Warning,
            fix: Some(fix.into()),
            ..Self::ok(scope, check, message)
        }
    }

    /// A problem with its fix.
    pub fn problem(
        scope: &str,
        check: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            level: Level::Problem,
            fix: Some(fix.into()),
            ..Self::ok(scope, check, message)
        }
    }

    /// The line as printed: `problem  pbx default  login: refused … → fix: …`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{:<8} {} {}: {}",
            self.level.as_str(),
            self.scope,
            self.check,
            one_line(&self.message)
        );
        if let Some(fix) = &self.fix {
            line.push_str(" -> fix: ");
            line.push_str(&one_line(fix));
        }
        line
    }
}

/// `text` on one line: a driver's multi-line reason (line breaks, tabs) becomes
/// single spaces, so one check is always one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every check, in the order they ran.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The lines.
    pub checks: Vec<Check>,
}

/// The JSON form: the verdict first, then the lines.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Json<'a> {
    ok: bool,
    problems: usize,
    warnings: usize,
    checks: &'a [Check],
}

impl Report {
    /// How many checks came out at `level`.
    pub fn count(&self, level: Level) -> usize {
        self.checks.iter().filter(|c| c.level == level).count()
    }

    /// 0 when the service can work (warnings allowed), 1 when a check is a problem.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.count(Level::Problem) > 0)
    }

    /// One line per check, then a summary line.
    pub fn text(&self) -> String {
        let mut out: String = self.checks.iter().map(|c| c.line() + "\n").collect();
        let (problems, warnings) = (self.count(Level::Problem), self.count(Level::Warning));
        out.push_str(&if problems > 0 {
            format!(
                "{problems} problem(s), {warnings} warning(s): the service cannot work like this\n"
            )
        } else {
            format!("no problem, {warnings} warning(s)\n")
        });
        out
    }

    /// `{"ok", "problems", "warnings", "checks": [{scope, check, level, message, fix?}]}`.
    pub fn json(&self) -> String {
        let json = Json {
            ok: self.exit_code() == 0,
            problems: self.count(Level::Problem),
            warnings: self.count(Level::Warning),
            checks: &self.checks,
        };
        serde_json::to_string_pretty(&json).unwrap_or_else(|e| {
            format!("{{\"ok\":false,\"error\":\"the report could not be printed: {e}\"}}")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_and_lines() {
        let mut report = Report::default();
        report
            .checks
            .push(Check::ok("http", "bind", "127.0.0.1:8080 is free"));
        report.checks.push(Check::warning(
            "pbx default",
            "timestamps",
            "none",
            "timestampevents = yes",
        ));
        assert_eq!(report.exit_code(), 0);
        report
            .checks
            .push(Check::problem("database", "reach", "refused", "start it"));
        assert_eq!(report.exit_code(), 1);
        assert!(report.checks[2]
            .line()
            .starts_with("problem  database reach: refused -> fix: start it"));
        let json: serde_json::Value = serde_json::from_str(&report.json()).expect("JSON");
        assert_eq!(json["ok"], false);
        assert_eq!(json["problems"], 1);
        assert_eq!(json["checks"][0]["level"], "ok");
        assert!(json["checks"][0].get("fix").is_none());
        assert_eq!(json["checks"][1]["fix"], "timestampevents = yes");
    }
}
