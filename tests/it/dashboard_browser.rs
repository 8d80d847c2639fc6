//! The dashboard in a real headless Chromium, against the real service and simulator.
//!
//! The simulator runs in this process (rate 0: only what the test does happens); the
//! service is the built binary (`switchboard serve`) as a child process on a free
//! loopback port with a fresh SQLite file; Chromium is driven over WebDriver by a
//! ChromeDriver child. Every wait is a bounded poll of the DOM. Screenshots land in
//! `$CARGO_TARGET_DIR/test-artifacts/` (else `target/test-artifacts/`).
//!
//! Skips (and passes) with a reason when Chromium or ChromeDriver is not installed,
//! except under CI (`CI` set), where that fails.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::browser::{free_port, Browser, ChildGuard};
use crate::common::wait::wait_until;
use serde_json::{json, Value};
use switchboard::sim::{SimConfig, SimHandle, Simulator};

const EXTENSIONS: u32 = 20;
const USER: &str = "dash";
const SECRET: &str = "dash-secret";
const SOON: Duration = Duration::from_secs(10);

fn sim_config() -> SimConfig {
    SimConfig {
        username: USER.to_string(),
        secret: SECRET.to_string(),
        seed: 7,
        extensions: EXTENSIONS,
        rate: 0.0,
        ..SimConfig::default()
    }
}

/// `switchboard serve` as a child, restartable on the same port and database.
struct Service {
    port: u16,
    sim: SocketAddr,
    dir: PathBuf,
    runs: u32,
    child: Option<ChildGuard>,
}

impl Service {
    fn new(sim: SocketAddr, dir: &Path) -> Self {
        Self {
            port: free_port(),
            sim,
            dir: dir.to_path_buf(),
            runs: 0,
            child: None,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn start(&mut self) {
        self.runs += 1;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.arg("serve")
            .current_dir(&self.dir)
            .env_remove("API_TOKEN")
            .env("AMI_HOST", self.sim.ip().to_string())
            .env("AMI_PORT", self.sim.port().to_string())
            .env("AMI_USERNAME", USER)
            .env("AMI_SECRET", SECRET)
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", self.dir.join("switchboard.db").display()),
            )
            .env("HTTP_BIND", format!("127.0.0.1:{}", self.port))
            .env("STATIC_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/static"))
            .env("RUST_LOG", "info");
        let log = self.dir.join(format!("service-{}.log", self.runs));
        self.child = Some(ChildGuard::spawn("switchboard serve", cmd, Some(&log)));
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill();
        }
    }

    /// Waits until health answers with the AMI connection up.
    async fn wait_ready(&mut self) {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(5))
            .finish();
        let url = self.url("/api/health");
        let what = format!(
            "the service to connect to the simulator (see {})",
            self.dir.display()
        );
        let child = &mut self.child;
        wait_until(&what, Duration::from_secs(30), || {
            if let Some(c) = child.as_mut() {
                c.assert_running();
            }
            let request = client.get(&url);
            async move {
                let Ok(mut res) = request.send().await else {
                    return false;
                };
                let v = res.json::<Value>().await.unwrap_or_default();
                v["data"]["ami"]["state"] == "connected"
            }
        })
        .await;
    }
}

/// The state word and colour key shown for extension `exten`.
async fn card(b: &Browser, exten: &str) -> Value {
    b.exec(
        "const c = document.querySelector(`#extensions .ext[data-ext=\"${arguments[0]}\"]`);
         return c ? { state: c.dataset.state, word: c.querySelector('.ext-badge').textContent,
                      hidden: c.hidden, since: c.querySelector('.ext-since').textContent } : null;",
        json!([exten]),
    )
    .await
}

async fn wait_card_state(b: &Browser, exten: &str, state: &str, word: &str) -> Duration {
    let start = Instant::now();
    wait_until(
        &format!("extension {exten} to show {word}"),
        SOON,
        || async {
            let c = card(b, exten).await;
            (c["state"] == state && c["word"] == word).then_some(())
        },
    )
    .await;
    start.elapsed()
}

async fn banner(b: &Browser) -> Value {
    b.exec(
        "const e = document.getElementById('banner');
         return { hidden: e.hidden, ami: e.dataset.amiState || '', ws: e.dataset.ws || '',
                  text: e.textContent, stale: document.getElementById('main').classList.contains('stale') };",
        json!([]),
    )
    .await
}

async fn wait_live(b: &Browser, what: &str) {
    wait_until(what, Duration::from_secs(20), || async {
        let v = banner(b).await;
        (v["hidden"] == true && v["ami"] == "connected" && v["ws"] == "open").then_some(())
    })
    .await;
}

async fn card_count(b: &Browser) -> u64 {
    b.exec(
        "return document.querySelectorAll('#extensions .ext').length;",
        json!([]),
    )
    .await
    .as_u64()
    .unwrap_or(0)
}

#[actix_rt::test]
async fn dashboard_in_a_real_browser() {
    let Some((chromium, chromedriver)) =
        crate::common::browser::browser_or_skip("dashboard_in_a_real_browser")
    else {
        return;
    };
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("temp dir");
    let profile = tmp.path().join("chrome-profile");
    std::fs::create_dir_all(&profile).expect("profile dir");

    let sim = Simulator::spawn("127.0.0.1:0".parse().expect("addr"), sim_config())
        .expect("starting the simulator");
    let sim_addr = sim.addr();
    let mut service = Service::new(sim_addr, tmp.path());
    service.start();
    service.wait_ready().await;

    let b = Browser::start(
        &chromium,
        &chromedriver,
        &profile,
        &tmp.path().join("chromedriver.log"),
    )
    .await;

    // 1. The page loads, goes live and shows every configured extension.
    b.goto(&service.url("/")).await;
    wait_live(&b, "the dashboard to go live").await;
    b.wait_js(
        "the grid to show every extension",
        SOON,
        &format!("return document.querySelectorAll('#extensions .ext').length === {EXTENSIONS};"),
    )
    .await;
    let numbers = b
        .exec(
            "return [...document.querySelectorAll('#extensions .ext')].map(c => c.dataset.ext);",
            json!([]),
        )
        .await;
    let expected: Vec<String> = (1001..1001 + EXTENSIONS).map(|n| n.to_string()).collect();
    assert_eq!(numbers, json!(expected), "one card per extension, in order");
    let all = b
        .exec(
            "return document.querySelector('#state-filter [data-state=all] .chip-count').textContent;",
            json!([]),
        )
        .await;
    assert_eq!(all, json!(EXTENSIONS.to_string()), "the All count");
    assert_eq!(card(&b, "1001").await["word"], "idle");

    // 2. A state change in the PBX reaches the page.
    sim.set_extension_state("1005", 8);
    let latency = wait_card_state(&b, "1005", "ringing", "ringing").await;
    eprintln!("1005 ringing on the page after {latency:?}");
    b.wait_js(
        "the ringing count to be 1",
        SOON,
        "return document.querySelector('#state-filter [data-state=ringing] .chip-count').textContent === '1';",
    )
    .await;

    // 3. Calls: a talking call with a running timer, a ringing one, a finished one.
    let talking = sim.place_call("1001", "1002");
    sim.answer_call(&talking);
    let finished = sim.place_call("1006", "1007");
    sim.answer_call(&finished);
    let ringing = sim.place_call("0301234567", "1003");
    let held = sim.place_call("1008", "1009");
    sim.answer_call(&held);
    sim.hold_call(&held, true);
    sim.set_extension_state("1012", 4);
    sim.set_extension_state("1014", 2);
    b.wait_js(
        "four active calls",
        SOON,
        "return document.querySelectorAll('#calls tr').length === 4;",
    )
    .await;
    let row = |id: &str| {
        format!(
            "const r = document.querySelector('#calls tr[data-call-id=\"{id}\"]');
             return r ? {{ text: r.textContent, duration: r.querySelector('.duration').textContent }} : null;"
        )
    };
    let first = b
        .wait_js("the talking call's row", SOON, &row(&talking))
        .await;
    let text = first["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("1001") && text.contains("1002"),
        "parties: {text}"
    );
    assert!(text.contains("talking"), "state: {text}");
    assert!(
        text.to_lowercase().contains("internal"),
        "direction: {text}"
    );
    let inbound = b
        .wait_js("the ringing call's row", SOON, &row(&ringing))
        .await;
    let text = inbound["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("0301234567") && text.contains("ringing"),
        "ringing inbound call: {text}"
    );
    let d0 = first["duration"].as_str().unwrap_or_default().to_string();
    assert!(d0.contains(':'), "duration as a clock: {d0:?}");
    wait_until("the call timer to advance", SOON, || async {
        let now = b.exec(&row(&talking), json!([])).await;
        (now["duration"].as_str() != Some(d0.as_str())).then_some(())
    })
    .await;
    sim.hangup_call(&finished);
    let recent = b
        .wait_js(
            "the finished call in recent calls",
            SOON,
            &format!(
                "const r = document.querySelector('#recent tr[data-call-id=\"{finished}\"]');
                 return r ? r.textContent : null;"
            ),
        )
        .await;
    let recent = recent.as_str().unwrap_or_default();
    assert!(
        recent.contains("answered") && recent.contains("Normal Clearing"),
        "outcome and hangup cause: {recent}"
    );
    wait_card_state(&b, "1012", "unavailable", "unavailable").await;
    wait_card_state(&b, "1014", "busy", "busy").await;
    wait_card_state(&b, "1008", "onHold", "on hold").await;

    // 4. Filters: by text, then by state.
    b.type_into("#ext-search", "1005").await;
    b.wait_js(
        "the text filter to leave one card",
        SOON,
        "return [...document.querySelectorAll('#extensions .ext')].filter(c => !c.hidden).length === 1;",
    )
    .await;
    b.exec(
        "const i = document.getElementById('ext-search'); i.value = ''; i.dispatchEvent(new Event('input'));",
        json!([]),
    )
    .await;
    b.click("#state-filter [data-state=busy]").await;
    let shown = b
        .wait_js(
            "the state filter to show only busy extensions",
            SOON,
            "const v = [...document.querySelectorAll('#extensions .ext')].filter(c => !c.hidden);
             return v.length > 0 && v.every(c => c.dataset.state === 'busy') ? v.map(c => c.dataset.ext) : null;",
        )
        .await;
    assert!(
        shown.as_array().is_some_and(|v| v.contains(&json!("1014"))),
        "busy filter shows 1014: {shown}"
    );
    b.click("#state-filter [data-state=busy]").await;
    b.wait_js(
        "every card to be visible again",
        SOON,
        "return [...document.querySelectorAll('#extensions .ext')].every(c => !c.hidden);",
    )
    .await;

    // 5. The refresh button shows progress, then the statistics.
    b.click("#refresh-btn").await;
    let stats = b
        .wait_js(
            "the refresh statistics",
            Duration::from_secs(30),
            "const r = document.getElementById('refresh-result');
             if (r.hidden || r.dataset.kind !== 'ok') return null;
             const s = {};
             for (const d of r.querySelectorAll('[data-stat]')) s[d.dataset.stat] = d.querySelector('dd').textContent;
             return s;",
        )
        .await;
    assert_eq!(stats["checked"], EXTENSIONS.to_string(), "checked: {stats}");
    assert_eq!(
        stats["succeeded"],
        EXTENSIONS.to_string(),
        "succeeded: {stats}"
    );
    assert_eq!(stats["failed"], "0", "failed: {stats}");
    assert!(stats.get("corrected").is_some(), "corrected: {stats}");
    let enabled = b
        .exec(
            "return !document.getElementById('refresh-btn').disabled;",
            json!([]),
        )
        .await;
    assert_eq!(enabled, json!(true), "the button is usable again");

    let errors = b.console_errors().await;
    assert!(
        errors.is_empty(),
        "console errors on the dashboard: {errors:#?}"
    );
    let shot = b.screenshot("dashboard.png").await;
    eprintln!("screenshot: {}", shot.display());
    b.resize(390, 844).await;
    b.screenshot("dashboard-phone.png").await;
    b.resize(1280, 900).await;

    // 6. A dropped WebSocket resumes from the last seq and misses nothing.
    let before = b.exec("return switchboard.counts;", json!([])).await;
    b.exec("switchboard.drop();", json!([])).await;
    sim.set_extension_state("1016", 1);
    b.wait_js(
        "the page to resume after the drop",
        SOON,
        &format!(
            "return switchboard.ws === 'open' && switchboard.counts.resumed > {};",
            before["resumed"]
        ),
    )
    .await;
    wait_card_state(&b, "1016", "inUse", "in use").await;
    let after = b.exec("return switchboard.counts;", json!([])).await;
    assert_eq!(
        after["snapshot"], before["snapshot"],
        "a resume, not a new snapshot"
    );

    // 7. The PBX goes away: the banner says so; it comes back: the banner goes.
    sim.stop();
    let down = wait_until(
        "the banner to report the lost PBX",
        Duration::from_secs(15),
        || async {
            let v = banner(&b).await;
            let ami = v["ami"].as_str().unwrap_or_default().to_string();
            (v["hidden"] == false && ami != "connected" && !ami.is_empty()).then_some(v)
        },
    )
    .await;
    eprintln!("banner while the PBX is down: {}", down["text"]);
    assert_eq!(down["stale"], true, "stale data is marked");
    b.wait_js(
        "the banner to name the reconnect",
        SOON,
        "const t = document.getElementById('banner').textContent; return /reconnecting|Connecting/i.test(t);",
    )
    .await;
    // A refresh now fails: the page says why and reloads the stored states.
    b.click("#refresh-btn").await;
    let failed = b
        .wait_js(
            "the refresh failure and the reload",
            Duration::from_secs(30),
            // Done once the reload has answered either way, so a failed reload
            // is reported with what the page said.
            "const r = document.getElementById('refresh-result');
             return !r.hidden && r.dataset.kind === 'error' && !/Reloading the last known/.test(r.textContent) ? r.textContent : null;",
        )
        .await;
    let failed = failed.as_str().unwrap_or_default();
    assert!(failed.contains("as last stored"), "the reload: {failed}");
    assert!(
        failed.contains("Refresh failed") && failed.contains("PBX_UNREACHABLE"),
        "the failure says why: {failed}"
    );
    assert!(
        failed.contains(&format!("{EXTENSIONS} extensions")),
        "reloaded from the store: {failed}"
    );
    assert_eq!(card_count(&b).await, u64::from(EXTENSIONS));
    b.screenshot("dashboard-pbx-down.png").await;
    let sim = Simulator::spawn(sim_addr, sim_config()).expect("restarting the simulator");
    wait_live(&b, "the banner to clear once the PBX is back").await;
    // The new PBX starts idle; the resync after login corrects the page.
    wait_card_state(&b, "1005", "idle", "idle").await;

    // 8. The service restarts: the page says it is offline, then recovers alone.
    service.stop();
    b.wait_js(
        "the page to notice the service is gone",
        Duration::from_secs(15),
        "const e = document.getElementById('banner');
         return !e.hidden && document.body.dataset.ws !== 'open' && /disconnected|Reconnecting/i.test(e.textContent);",
    )
    .await;
    b.screenshot("dashboard-offline.png").await;
    service.start();
    service.wait_ready().await;
    wait_live(&b, "the page to reconnect to the restarted service").await;
    assert_eq!(card_count(&b).await, u64::from(EXTENSIONS));
    set_and_wait(&sim, &b, "1010", 16, "onHold", "on hold").await;
    let _ = b.console().await; // expected connection errors while things were down

    // 9. The admin page lists the actors, health and counters.
    b.goto(&service.url("/admin.html")).await;
    let kinds = b
        .wait_js(
            "the actor table",
            SOON,
            "const rows = [...document.querySelectorAll('#actors tr')];
             return rows.length ? [...new Set(rows.map(r => r.dataset.kind))].sort() : null;",
        )
        .await;
    for kind in ["connection", "extension", "hub", "router"] {
        assert!(
            kinds.as_array().is_some_and(|k| k.contains(&json!(kind))),
            "actor kind {kind} listed: {kinds}"
        );
    }
    let extension_actors = b
        .exec(
            "return document.querySelector('#kind-filter [data-kind=extension] .chip-count').textContent;",
            json!([]),
        )
        .await;
    assert_eq!(extension_actors, json!(EXTENSIONS.to_string()));
    let health = b
        .wait_js(
            "the health cards",
            SOON,
            "const t = document.getElementById('health-cards').textContent; return t.includes('connected') ? t : null;",
        )
        .await;
    assert!(
        health.as_str().is_some_and(|t| t.contains("ok")),
        "health: {health}"
    );
    b.wait_js(
        "the AMI event counter",
        SOON,
        "const d = document.querySelector('[data-metric=switchboard_ami_events_total] dd'); return d && Number(d.textContent.replace(/\\D/g, '')) > 0;",
    )
    .await;
    let errors = b.console_errors().await;
    assert!(
        errors.is_empty(),
        "console errors on the admin page: {errors:#?}"
    );
    b.screenshot("admin.png").await;

    b.quit().await;
    service.stop();
    sim.stop();
    eprintln!("dashboard browser test took {:?}", started.elapsed());
}

async fn set_and_wait(
    sim: &SimHandle,
    b: &Browser,
    exten: &str,
    status: i32,
    state: &str,
    word: &str,
) {
    sim.set_extension_state(exten, status);
    wait_card_state(b, exten, state, word).await;
}
