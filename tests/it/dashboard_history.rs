//! The history page (today at a glance, search, CSV export) and the extension page
//! (its day as a timeline, its calls) in a real headless Chromium, against the
//! built binary and the simulator; and the names the PBX gives on the dashboard's
//! cards from the first snapshot.
//!
//! The service is `switchboard serve` as a child on a free loopback port with a fresh
//! SQLite file; the simulator runs in this process (rate 0: only what the test does
//! happens). Every wait is a bounded poll of the DOM. Screenshots land in
//! `$CARGO_TARGET_DIR/test-artifacts/` (`history.png`, `extension.png`, …).
//!
//! Skips with a reason when Chromium or ChromeDriver is missing, except under CI
//! (`CI` set), where that fails.

use std::time::Duration;

use crate::common::browser::{browser_or_skip, free_port, Browser};
use crate::common::child::OwnedChild;
use crate::common::wait::wait_until;
use serde_json::{json, Value};
use switchboard::sim::{SimConfig, Simulator};

const USER: &str = "hist";
const SECRET: &str = "hist-secret";
const SOON: Duration = Duration::from_secs(15);

async fn get_json(client: &awc::Client, url: &str) -> Option<Value> {
    let mut res = client.get(url).send().await.ok()?;
    res.json::<Value>().limit(8 << 20).await.ok()
}

/// Console errors, less the 404 of `/api/queues` on a service without queues (the
/// page asks, and hides the queue filter when there are none).
async fn real_console_errors(b: &Browser) -> Vec<String> {
    b.console_errors()
        .await
        .into_iter()
        .filter(|e| !e.contains("api/queues"))
        .collect()
}

#[actix_rt::test]
async fn history_and_extension_pages_in_a_real_browser() {
    let Some((chromium, chromedriver)) =
        browser_or_skip("history_and_extension_pages_in_a_real_browser")
    else {
        return;
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let profile = tmp.path().join("chrome-profile");
    std::fs::create_dir_all(&profile).expect("profile dir");
    let sim = Simulator::spawn(
        "127.0.0.1:0".parse().expect("addr"),
        SimConfig {
            username: USER.to_string(),
            secret: SECRET.to_string(),
            seed: 11,
            extensions: 12,
            rate: 0.0,
            ..SimConfig::default()
        },
    )
    .expect("starting the simulator");
    let port = free_port();
    let settings = format!(
        "AMI_HOST=127.0.0.1\nAMI_PORT={}\nAMI_USERNAME={USER}\nAMI_SECRET={SECRET}\n\
         DATABASE_URL=sqlite://{}\nHTTP_BIND=127.0.0.1:{port}\nSTATIC_DIR={}\n",
        sim.addr().port(),
        tmp.path().join("switchboard.db").display(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/static"),
    );
    let _service = OwnedChild::serve(tmp.path(), &settings, "info");
    let base = format!("http://127.0.0.1:{port}");
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();
    wait_until(
        "the service named every extension",
        Duration::from_secs(30),
        || async {
            let v = get_json(&client, &format!("{base}/api/extensions")).await?;
            let list = v["data"].as_array()?;
            (list.len() == 12 && list.iter().all(|e| e["name"].is_string())).then_some(())
        },
    )
    .await;

    // A day's worth in a moment: 1001 rings, talks, goes idle; three calls end.
    // Each state is seen before the next, so each lasts a while (a state held for
    // no time has no span to draw).
    for (status, state) in [(8, "ringing"), (1, "inUse"), (0, "idle")] {
        sim.set_extension_state("1001", status);
        wait_until(&format!("1001 {state}"), SOON, || async {
            let v = get_json(&client, &format!("{base}/api/extensions/1001")).await?;
            (v["data"]["state"] == state).then_some(())
        })
        .await;
    }
    let answered = sim.place_call("1001", "1002");
    sim.answer_call(&answered);
    sim.hangup_call(&answered);
    let missed = sim.place_call("1003", "1004");
    sim.hangup_call(&missed);
    let inbound = sim.place_call("0301234567", "1005");
    sim.answer_call(&inbound);
    sim.hangup_call(&inbound);
    wait_until("three calls in the history", SOON, || async {
        let v = get_json(&client, &format!("{base}/api/calls/history")).await?;
        (v["pagination"]["total"] == 3).then_some(())
    })
    .await;

    let b = Browser::start(
        &chromium,
        &chromedriver,
        &profile,
        &tmp.path().join("chromedriver.log"),
    )
    .await;
    b.resize(1280, 900).await;

    // 1. The dashboard's cards carry the PBX's names, and link to the extension page.
    b.goto(&format!("{base}/")).await;
    let card = b
        .wait_js(
            "card 1010 with its name",
            SOON,
            "const c = document.querySelector('#extensions .ext[data-ext=\"1010\"]');
             return c && c.querySelector('.ext-name').textContent === 'User 1010'
               ? c.querySelector('.ext-num a').getAttribute('href') : null;",
        )
        .await;
    assert_eq!(card, json!("extension.html?exten=1010&pbx=default"));

    // 2. Today at a glance: 24 hour bars, the day's figures.
    b.goto(&format!("{base}/history.html")).await;
    let stats = b
        .wait_js(
            "today's figures",
            SOON,
            "const s = {};
             for (const d of document.querySelectorAll('#today-stats [data-stat]'))
               s[d.dataset.stat] = d.querySelector('dd').textContent;
             return Object.keys(s).length ? s : null;",
        )
        .await;
    assert_eq!(stats["Calls today"], "3", "{stats}");
    assert_eq!(stats["Answered"], "2", "{stats}");
    assert_eq!(stats["Missed"], "1", "{stats}");
    let bars = b
        .exec(
            "return [...document.querySelectorAll('#today-chart .bar')].map(g => g.getAttribute('aria-label'));",
            json!([]),
        )
        .await;
    let bars = bars.as_array().expect("bars");
    assert_eq!(bars.len(), 24, "one bar per hour");
    assert!(
        bars.iter().any(|l| l
            .as_str()
            .is_some_and(|l| l.contains("2 answered, 1 missed"))),
        "this hour's bar says its figures: {bars:?}"
    );
    // The search lists every call, newest first.
    b.wait_js(
        "three rows",
        SOON,
        "return document.querySelectorAll('#history tr').length === 3;",
    )
    .await;
    let first = b
        .exec(
            "return document.querySelector('#history tr').dataset.id;",
            json!([]),
        )
        .await;
    assert_eq!(first, json!(inbound));
    b.screenshot("history.png").await;

    // 3. Search by extension: one call; the address keeps the filter.
    b.type_into("#f-extension", "1003").await;
    b.click("#search-btn").await;
    b.wait_js(
        "one row for 1003",
        SOON,
        &format!(
            "const r = [...document.querySelectorAll('#history tr')];
             return r.length === 1 && r[0].dataset.id === '{missed}';"
        ),
    )
    .await;
    let address = b.exec("return window.location.search;", json!([])).await;
    assert_eq!(address, json!("?extension=1003"));

    // 4. Export: the same filter, as a CSV file with the service's name for it.
    b.exec(
        "window.__download = null;
         const click = HTMLAnchorElement.prototype.click;
         HTMLAnchorElement.prototype.click = function () {
           if (!this.download) return click.call(this);
           const d = { name: this.download, text: null };
           window.__download = d;
           fetch(this.href).then(r => r.text()).then(t => { d.text = t; });
         };",
        json!([]),
    )
    .await;
    b.click("#export-btn").await;
    let download = b
        .wait_js(
            "the CSV download",
            SOON,
            "const d = window.__download; return d && d.text !== null ? d : null;",
        )
        .await;
    let name = download["name"].as_str().unwrap_or_default();
    assert!(
        name.starts_with("calls-") && name.ends_with(".csv"),
        "{name}"
    );
    let text = download["text"].as_str().unwrap_or_default();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "header and the one filtered call:\n{text}");
    assert!(lines[1].starts_with(&missed), "{}", lines[1]);

    // 4b. Search by number and outcome, then by name: answered from the
    // history's indexes (no 400 for `q` or `outcome`); the address keeps both.
    b.exec(
        "document.querySelector('#f-extension').value = '';
         document.querySelector('#f-q').value = '0301';
         document.querySelector('#f-outcome').value = 'answered';",
        json!([]),
    )
    .await;
    b.click("#search-btn").await;
    b.wait_js(
        "the inbound call by its number's start and outcome",
        SOON,
        &format!(
            "const r = [...document.querySelectorAll('#history tr')];
             return r.length === 1 && r[0].dataset.id === '{inbound}'
               && document.querySelector('#search-error').hidden;"
        ),
    )
    .await;
    let address = b.exec("return window.location.search;", json!([])).await;
    assert_eq!(address, json!("?q=0301&outcome=answered"));
    b.exec(
        "document.querySelector('#f-q').value = 'user 1003';
         document.querySelector('#f-outcome').value = '';",
        json!([]),
    )
    .await;
    b.click("#search-btn").await;
    b.wait_js(
        "the missed call by its caller's name",
        SOON,
        &format!(
            "const r = [...document.querySelectorAll('#history tr')];
             return r.length === 1 && r[0].dataset.id === '{missed}'
               && document.querySelector('#search-error').hidden;"
        ),
    )
    .await;

    // 5. The extension page: its name, its day as coloured spans, its calls (the
    //    page reads the stored transitions once, so they are waited for first).
    wait_until("1001's transitions stored", SOON, || async {
        let v = get_json(
            &client,
            &format!("{base}/api/extensions/1001/history?limit=1000"),
        )
        .await?;
        let states: Vec<&str> = v["data"]["transitions"]
            .as_array()?
            .iter()
            .filter_map(|t| t["state"].as_str())
            .collect();
        (states.contains(&"ringing") && states.contains(&"inUse")).then_some(())
    })
    .await;
    b.goto(&format!("{base}/extension.html?exten=1001&pbx=default"))
        .await;
    let spans = b
        .wait_js(
            "the timeline's spans",
            SOON,
            "const s = [...document.querySelectorAll('#timeline .span')].map(g => g.dataset.state);
             return s.includes('ringing') && s.includes('inUse') ? s : null;",
        )
        .await;
    assert_eq!(
        spans.as_array().and_then(|s| s.last()).cloned(),
        Some(json!("idle")),
        "it ends idle: {spans}"
    );
    assert_eq!(
        b.exec(
            "return document.getElementById('ext-name').textContent;",
            json!([])
        )
        .await,
        json!("User 1001")
    );
    let focused = b
        .exec(
            "const s = document.querySelector('#timeline .span[data-state=ringing]');
             s.focus();
             return document.activeElement === s ? s.getAttribute('aria-label') : null;",
            json!([]),
        )
        .await;
    assert!(
        focused
            .as_str()
            .is_some_and(|l| l.starts_with("ringing from ")),
        "a span is reachable by keyboard and says what it is: {focused}"
    );
    b.wait_js(
        "its call that day",
        SOON,
        &format!(
            "const r = [...document.querySelectorAll('#ext-calls tr')];
             return r.length === 1 && r[0].dataset.id === '{answered}';"
        ),
    )
    .await;
    b.screenshot("extension.png").await;

    // 6. Phone width: the pages still read.
    b.resize(390, 844).await;
    b.goto(&format!("{base}/history.html")).await;
    b.wait_js(
        "the chart at phone width",
        SOON,
        "return document.querySelectorAll('#today-chart .bar').length === 24;",
    )
    .await;
    let overflow = b
        .exec(
            "return document.documentElement.scrollWidth > window.innerWidth + 1;",
            json!([]),
        )
        .await;
    assert_eq!(
        overflow,
        json!(false),
        "no sideways scrolling at phone width"
    );
    b.screenshot("history-phone.png").await;

    let errors = real_console_errors(&b).await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.quit().await;
    sim.stop();
}
