//! [`wait_until`]: the one way a test waits. Every wait is a named condition
//! polled until a bounded deadline, so a hung service fails the test saying what
//! it waited for instead of hanging the run; nothing sleeps to assert.

use std::future::Future;
use std::time::Duration;

/// How long a wait may take unless a test names its own bound.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// How often a condition is polled: a thousandth of the bound, between 10 and
/// 50 ms, so a long wait on an expensive probe (a browser, several instances)
/// does not load the machine it measures.
fn poll_every(limit: Duration) -> Duration {
    (limit / 1000).clamp(Duration::from_millis(10), Duration::from_millis(50))
}

/// What a polled condition answers: `true`, `Some(value)` or `Ok(value)` once it
/// holds; `Err(why)` says what is still missing, for the failure message.
pub trait Reached {
    /// What [`wait_until`] returns once the condition holds.
    type Value;
    /// The value once the condition holds, else why not (when known).
    fn reached(self) -> Result<Self::Value, Option<String>>;
}

impl Reached for bool {
    type Value = ();
    fn reached(self) -> Result<(), Option<String>> {
        self.then_some(()).ok_or(None)
    }
}

impl<T> Reached for Option<T> {
    type Value = T;
    fn reached(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

impl<T> Reached for Result<T, String> {
    type Value = T;
    fn reached(self) -> Result<T, Option<String>> {
        self.map_err(Some)
    }
}

/// Polls `probe` until it answers `true`, `Some(value)` or `Ok(value)`, and
/// returns `()` or the value; panics naming `what` (and the last `Err` reason)
/// after `limit`.
pub async fn wait_until<R, F, Fut>(what: &str, limit: Duration, mut probe: F) -> R::Value
where
    R: Reached,
    F: FnMut() -> Fut,
    Fut: Future<Output = R>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let why = match probe().await.reached() {
            Ok(value) => return value,
            Err(why) => why,
        };
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}{}",
            why.map(|w| format!("; last: {w}")).unwrap_or_default()
        );
        tokio::time::sleep(poll_every(limit)).await;
    }
}

/// Polls `probe` until its answer has not changed for `quiet` (a counter that
/// stopped moving) and returns that answer; panics naming `what` after `limit`.
pub async fn wait_settled<T, F, Fut>(
    what: &str,
    limit: Duration,
    quiet: Duration,
    mut probe: F,
) -> T
where
    T: PartialEq + Clone + std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let since: std::cell::RefCell<Option<(T, tokio::time::Instant)>> = Default::default();
    wait_until(what, limit, || {
        let answer = probe();
        let since = &since;
        async move {
            let now = answer.await;
            let mut since = since.borrow_mut();
            match &*since {
                Some((last, at)) if *last == now => {
                    if at.elapsed() >= quiet {
                        return Ok(now);
                    }
                }
                _ => *since = Some((now.clone(), tokio::time::Instant::now())),
            }
            Err(format!("still moving: {now:?}"))
        }
    })
    .await
}
