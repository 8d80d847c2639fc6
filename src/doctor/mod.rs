//! `switchboard doctor`: says what stands between this configuration and a
//! working board, before (or beside) `serve`.
//!
//! It reads the configuration exactly as `serve` does ([`Config::load`] in the
//! command), then, for each PBX at once, opens one short AMI session
//! (`ami_session.rs`: banner, login, the actions the service needs, a few seconds
//! of events) and judges it (`pbx_checks.rs`); then the database, the HTTP address
//! and the tokens (`local_checks.rs`). The verdict is a [`Report`] (`report.rs`):
//! one line per check, `ok` / `warning` / `problem` with the fix, or JSON; exit
//! code 1 when a problem means the service could not work.

mod ami_session;
mod local_checks;
mod pbx_checks;
pub mod report;

use std::time::Duration;

pub use report::{Check, Level, Report};

use crate::config::Config;
use ami_session::SessionLimits;
use pbx_checks::PbxContext;

/// How the doctor runs.
#[derive(Debug, Clone, Copy)]
pub struct DoctorOptions {
    /// How long to listen to each PBX's events.
    pub listen: Duration,
}

/// Runs every check for `config`.
pub fn run(config: &Config, options: DoctorOptions) -> Report {
    let limits = SessionLimits {
        connect: config.connect_timeout,
        login: config.login_timeout,
        answer: config.login_timeout,
        listen: options.listen,
        frames: config.ami_limits,
    };
    let per_pbx: Vec<Vec<Check>> = std::thread::scope(|scope| {
        let running: Vec<_> = config
            .pbxs
            .iter()
            .map(|pbx| {
                scope.spawn(move || {
                    let transcript = ami_session::run(pbx, limits);
                    let cx = PbxContext {
                        pbx,
                        limits,
                        max_extensions: config.max_extensions_per_pbx,
                    };
                    pbx_checks::judge(&cx, &transcript)
                })
            })
            .collect();
        running
            .into_iter()
            .zip(&config.pbxs)
            .map(|(handle, pbx)| {
                handle.join().unwrap_or_else(|_| {
                    vec![Check::problem(
                        &format!("pbx {}", pbx.name),
                        "doctor",
                        "the check of this PBX failed inside the doctor",
                        "report it, with the output of `RUST_LOG=debug switchboard doctor`",
                    )]
                })
            })
            .collect()
    });
    let mut report = Report::default();
    report.checks.extend(per_pbx.into_iter().flatten());
    report.checks.extend(local_checks::database(config));
    report.checks.push(local_checks::http(config));
    report.checks.extend(local_checks::tokens(config));
    report
}
