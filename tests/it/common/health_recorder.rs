//! Polls `GET /api/health` in the background and keeps every distinct
//! (`status`, `ami.state`, `store.state`) it reports, so a test can check what a
//! monitoring system would have seen during a fault, however short.

use super::wait::wait_until;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use serde_json::Value;

/// One distinct health answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSample {
    /// `ok` or `degraded`.
    pub status: String,
    /// The first PBX connection's state.
    pub ami: String,
    /// The store writer's state.
    pub store: String,
}

/// The background poller; stops with [`HealthRecorder::stop`] or after a bound.
#[derive(Clone)]
pub struct HealthRecorder {
    seen: Rc<RefCell<Vec<HealthSample>>>,
    stop: Rc<RefCell<bool>>,
}

/// The poller ends on its own after this long.
const POLL_AT_MOST: Duration = Duration::from_secs(180);

impl HealthRecorder {
    /// Starts polling the service at `addr` every 15 ms.
    pub fn start(addr: SocketAddr) -> Self {
        let seen = Rc::new(RefCell::new(Vec::<HealthSample>::new()));
        let stop = Rc::new(RefCell::new(false));
        let (task_seen, task_stop) = (seen.clone(), stop.clone());
        actix_rt::spawn(async move {
            let client = awc::Client::builder()
                .timeout(Duration::from_secs(10))
                .finish();
            let url = format!("http://{addr}/api/health");
            let end = tokio::time::Instant::now() + POLL_AT_MOST;
            while !*task_stop.borrow() && tokio::time::Instant::now() < end {
                if let Ok(mut res) = client.get(&url).send().await {
                    if let Ok(body) = res.json::<Value>().limit(1 << 20).await {
                        let text = |v: &Value| v.as_str().unwrap_or("?").to_string();
                        let sample = HealthSample {
                            status: text(&body["data"]["status"]),
                            ami: text(&body["data"]["ami"]["state"]),
                            store: text(&body["data"]["store"]["state"]),
                        };
                        let mut seen = task_seen.borrow_mut();
                        if seen.last() != Some(&sample) {
                            seen.push(sample);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        });
        Self { seen, stop }
    }

    /// Every distinct answer so far, in order.
    pub fn samples(&self) -> Vec<HealthSample> {
        self.seen.borrow().clone()
    }

    /// The distinct AMI states reported so far, in order (repeats collapsed).
    pub fn ami_states(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self.seen.borrow().iter() {
            if out.last() != Some(&s.ami) {
                out.push(s.ami.clone());
            }
        }
        out
    }

    /// Ends the polling.
    pub fn stop(&self) {
        *self.stop.borrow_mut() = true;
    }

    /// Waits (at most `limit`) until the latest answer satisfies `done`, then ends
    /// the polling. The poller runs on the test's own thread every 15 ms, so a test
    /// that stops it as soon as it saw the service recover itself can stop it
    /// before the poller saw the recovery.
    pub async fn stop_when(
        &self,
        what: &str,
        limit: Duration,
        done: impl Fn(&HealthSample) -> bool,
    ) {
        wait_until(what, limit, || async {
            self.samples().last().is_some_and(&done)
        })
        .await;
        self.stop();
    }
}
