//! The switchboard binary as a child process of a test: ended by its own PID
//! however the test ends, its log (when it has one) at hand, and stopped with
//! SIGTERM the way an init system stops it.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
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
