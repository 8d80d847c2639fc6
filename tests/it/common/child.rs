//! The switchboard binary as a child process of a test: ended by its own PID
//! however the test ends, its log (when it has one) at hand, and stopped with
//! SIGTERM the way an init system stops it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A child process killed (by its PID) when dropped, unless it already exited.
pub struct OwnedChild {
    child: Child,
    log: Option<PathBuf>,
}

impl OwnedChild {
    /// Owns `child`; `log` is the file its stderr goes to, if any.
    pub fn new(child: Child, log: Option<PathBuf>) -> Self {
        Self { child, log }
    }

    /// `switchboard serve --config FILE` in `dir`: `settings` (`KEY=VALUE` lines)
    /// written to `dir/switchboard.env`, a clean environment (so nothing from the
    /// caller's environment or a `.env` overrides the file) but `RUST_LOG`, and
    /// stderr in `dir/switchboard.log`.
    pub fn serve(dir: &Path, settings: &str, rust_log: &str) -> Self {
        let config = dir.join("switchboard.env");
        std::fs::write(&config, settings).expect("write the config file");
        let log = dir.join("switchboard.log");
        let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .current_dir(dir)
            .env_clear()
            .env("RUST_LOG", rust_log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start the switchboard binary");
        Self::new(child, Some(log))
    }

    /// Its resident set in KiB (`VmRSS` in /proc/PID/status).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.id()))
            .expect("/proc status of the child");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS line")
    }

    /// Its PID.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Its log so far (empty when it has none or it cannot be read).
    pub fn log(&self) -> String {
        self.log
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends SIGTERM with the `kill` command, by PID.
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {}", self.id());
    }

    /// Kills it with SIGKILL (by its PID) and reaps it: a crash, no clean-up.
    pub fn sigkill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `within` for the process to exit, without blocking the test's
    /// runtime.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// [`Self::wait_exit`] for a test without a runtime.
    pub fn wait_exit_blocking(&mut self, within: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for OwnedChild {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
