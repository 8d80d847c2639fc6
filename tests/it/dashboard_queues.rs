//! The queue panel in a real headless Chromium, against the in-process service and
//! the simulator (rate 0: only what the test does happens): callers joining show
//! up with their position and caller ID, a pause shows its reason, an answer moves
//! the figures — each live from `queue.updated`, without reloading the page.
//!
//! Skips (and passes) with a reason when Chromium or ChromeDriver is not installed,
//! except under CI (`CI` set), where that fails.

use std::time::Duration;

use crate::common::browser::Browser;
use crate::common::service::{Options, TestService};
use serde_json::{json, Value};
use switchboard::sim::SimConfig;

const SOON: Duration = Duration::from_secs(10);

/// What the panel shows of queue `name`: waiting count, caller IDs in order,
/// member states and reasons, figures.
async fn panel(b: &Browser, name: &str) -> Value {
    b.exec(
        "const q = document.querySelector(`#queues .queue[data-queue=\"${arguments[0]}\"]`);
         if (!q) return null;
         const fig = (k) => q.querySelector(`[data-figure=\"${k}\"] dd`).textContent;
         return {
           waiting: q.querySelector('[data-field=waiting]').textContent,
           callers: [...q.querySelectorAll('.caller')].map((c) =>
             c.querySelector('.caller-pos').textContent + ' ' + c.querySelector('.caller-id').textContent),
           members: Object.fromEntries([...q.querySelectorAll('.member')].map((m) =>
             [m.dataset.member, m.dataset.state + '|' + m.querySelector('.member-state').textContent])),
           offered: fig('offered'), answered: fig('answered'), abandoned: fig('abandoned'),
           spark: q.querySelector('svg.sparkline').getAttribute('aria-label'),
           total: document.getElementById('queues-waiting').textContent,
         };",
        json!([name]),
    )
    .await
}

async fn wait_panel(b: &Browser, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    crate::common::wait::wait_until(what, SOON, || async {
        let v = panel(b, "support").await;
        pred(&v).then_some(v)
    })
    .await
}

#[actix_rt::test]
async fn the_queue_panel_updates_live() {
    let Some((chromium, chromedriver)) =
        crate::common::browser::browser_or_skip("the_queue_panel_updates_live")
    else {
        return;
    };
    let ts = TestService::with(Options {
        sim: SimConfig {
            rate: 0.0,
            extensions: 12,
            queues: 1,
            seed: 5,
            ..SimConfig::default()
        },
        ..Options::default()
    })
    .await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let profile = tmp.path().join("chrome-profile");
    std::fs::create_dir_all(&profile).expect("profile dir");
    let b = Browser::start(
        &chromium,
        &chromedriver,
        &profile,
        &tmp.path().join("chromedriver.log"),
    )
    .await;
    b.resize(1400, 1000).await;
    b.goto(&ts.url("/")).await;

    let first = wait_panel(&b, "the support queue with its four free members", |v| {
        v["members"].as_object().is_some_and(|m| {
            m.len() == 4
                && m.values()
                    .all(|s| s.as_str().is_some_and(|s| s.starts_with("free|")))
        })
    })
    .await;
    assert_eq!(first["waiting"], "0");
    assert_eq!(first["spark"], "No callers waited today");

    ts.sim.queue_join("support", "0301234567").expect("queued");
    ts.sim.queue_join("support", "0307654321").expect("queued");
    let v = wait_panel(&b, "two callers waiting, in order", |v| v["waiting"] == "2").await;
    assert_eq!(v["callers"], json!(["1. 0301234567", "2. 0307654321"]));
    assert_eq!(v["total"], "2");
    assert_eq!(v["offered"], "2");
    assert_eq!(
        v["spark"], "Callers waiting today, at most 2 at once",
        "the waiting curve is drawn"
    );

    assert!(ts.sim.queue_pause("support", "PJSIP/1001", Some("lunch")));
    wait_panel(&b, "1001 paused for lunch", |v| {
        v["members"]["PJSIP/1001"] == "paused|paused: lunch"
    })
    .await;

    assert!(ts.sim.queue_answer("support"));
    let v = wait_panel(&b, "the first caller answered", |v| {
        v["waiting"] == "1" && v["answered"] == "1"
    })
    .await;
    assert_eq!(v["callers"], json!(["1. 0307654321"]));
    assert!(
        v["members"].as_object().is_some_and(|m| m
            .values()
            .any(|s| s.as_str().is_some_and(|s| s.starts_with("onCall|")))),
        "an agent is on the call: {v}"
    );
    let shot = b.screenshot("queues.png").await;
    eprintln!("queue panel screenshot: {}", shot.display());

    // The extension page lists the queues the extension answers for, and its
    // state there; an extension in no queue shows no queue panel.
    b.goto(&ts.url("/extension.html?exten=1001")).await;
    let mine = crate::common::wait::wait_until("1001's page lists support", SOON, || async {
        let v = b
            .exec(
                "const p = document.getElementById('ext-queues');
                 const items = [...p.querySelectorAll('.member')].map((m) =>
                   m.dataset.queue + '|' + m.querySelector('.member-state').textContent);
                 return { hidden: p.hidden, items };",
                json!([]),
            )
            .await;
        (v["hidden"] == false).then_some(v)
    })
    .await;
    assert_eq!(
        mine["items"],
        json!(["support|paused: lunch · 0 taken · 1 waiting"])
    );
    b.goto(&ts.url("/extension.html?exten=1011")).await;
    crate::common::wait::wait_until("1011's queues read", SOON, || async {
        let v = b
            .exec(
                "return document.getElementById('ext-queues').dataset.loaded || ''",
                json!([]),
            )
            .await;
        (v == "true").then_some(())
    })
    .await;
    let hidden = b
        .exec(
            "return document.getElementById('ext-queues').hidden",
            json!([]),
        )
        .await;
    assert_eq!(hidden, true, "1011 is in no queue");
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    b.quit().await;
    ts.stop().await;
}
