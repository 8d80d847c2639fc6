//! The dashboard in a real headless Chromium watching twenty PBXs, and the dashboard
//! behind an API token.
//!
//! Twenty simulators (100 extensions each) run in this process; the service is the
//! built binary (`switchboard serve`) as a child on a free loopback port with
//! `AMI_PBXS` naming them; Chromium is driven over WebDriver. Every wait is a bounded
//! poll of the DOM.
//!
//! What drawing costs under load (time to first render, main-thread time per second
//! of updates) is measured and printed, not asserted: run with `--nocapture`.
//!
//! Skips with a reason when Chromium or ChromeDriver is missing, except under CI
//! (`CI` set), where that fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::common::browser::{free_port, Browser, ChildGuard};
use crate::common::wait::wait_until;
use serde_json::{json, Value};
use switchboard::sim::{SimConfig, SimHandle, Simulator};

const PBXS: usize = 20;
const PER_PBX: u32 = 100;
const USER: &str = "board";
const SECRET: &str = "board-secret";
const SOON: Duration = Duration::from_secs(15);
/// Extension changes per second wanted over all PBXs in the load phase.
const TARGET_CHANGES_PER_S: f64 = 500.0;
/// How long the load phase is measured.
const MEASURE: Duration = Duration::from_secs(10);

/// The two tests each drive a browser and a service; run at once on a small machine
/// they would distort each other's measurements.
static ONE_BOARD_AT_A_TIME: Mutex<()> = Mutex::new(());

fn pbx_name(i: usize) -> String {
    format!("p{:02}", i + 1)
}

fn sim_config(i: usize, extensions: u32) -> SimConfig {
    SimConfig {
        username: USER.to_string(),
        secret: SECRET.to_string(),
        seed: 100 + i as u64,
        extensions,
        rate: 0.0,
        system_name: format!("sim{:02}", i + 1),
        ..SimConfig::default()
    }
}

/// `switchboard serve` as a child process with the given extra environment.
struct Service {
    port: u16,
    dir: PathBuf,
    _child: ChildGuard,
}

impl Service {
    fn start(dir: &Path, env: &[(String, String)]) -> Self {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.arg("serve")
            .current_dir(dir)
            .env_remove("API_TOKEN")
            .env_remove("AMI_PBXS")
            .env("AMI_USERNAME", USER)
            .env("AMI_SECRET", SECRET)
            .env("AMI_BACKOFF_MIN_MS", "200")
            .env("AMI_BACKOFF_MAX_MS", "1000")
            .env("AMI_LOGIN_BACKOFF_MIN_MS", "1000")
            .env("AMI_LOGIN_BACKOFF_MAX_MS", "2000")
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.join("switchboard.db").display()),
            )
            .env("HTTP_BIND", format!("127.0.0.1:{port}"))
            .env("STATIC_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/static"))
            .env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = ChildGuard::spawn("switchboard serve", cmd, Some(&dir.join("service.log")));
        Self {
            port,
            dir: dir.to_path_buf(),
            _child: child,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Waits until health lists `pbxs` PBX connections, all connected.
    async fn wait_connected(&self, pbxs: usize, token: Option<&str>) {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(5))
            .finish();
        let url = self.url("/api/health");
        let dir = self.dir.display().to_string();
        wait_until(
            &format!("all {pbxs} PBXs connected (service log in {dir})"),
            Duration::from_secs(60),
            || {
                let mut req = client.get(&url);
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                async move {
                    let mut res = req.send().await.ok()?;
                    let v: Value = res.json().limit(1 << 20).await.ok()?;
                    let list = v["data"]["pbxs"].as_array()?;
                    (list.len() == pbxs && list.iter().all(|p| p["state"] == "connected"))
                        .then_some(())
                }
            },
        )
        .await;
    }
}

fn spawn_sims(n: usize, extensions: u32) -> Vec<SimHandle> {
    (0..n)
        .map(|i| {
            Simulator::spawn(
                "127.0.0.1:0".parse().expect("loopback address"),
                sim_config(i, extensions),
            )
            .expect("starting a simulator")
        })
        .collect()
}

/// `AMI_PBXS` and each PBX's host and port.
fn pbx_env(sims: &[SimHandle]) -> Vec<(String, String)> {
    let names: Vec<String> = (0..sims.len()).map(pbx_name).collect();
    let mut env = vec![("AMI_PBXS".to_string(), names.join(","))];
    for (name, sim) in names.iter().zip(sims) {
        let upper = name.to_uppercase();
        env.push((format!("AMI_{upper}_HOST"), "127.0.0.1".to_string()));
        env.push((format!("AMI_{upper}_PORT"), sim.addr().port().to_string()));
    }
    env
}

async fn open_browser(tmp: &Path, (chromium, chromedriver): &(PathBuf, PathBuf)) -> Browser {
    let profile = tmp.join("chrome-profile");
    std::fs::create_dir_all(&profile).expect("profile dir");
    Browser::start(
        chromium,
        chromedriver,
        &profile,
        &tmp.join("chromedriver.log"),
    )
    .await
}

async fn header(b: &Browser) -> String {
    b.exec(
        "return document.getElementById('pbx-name').textContent;",
        json!([]),
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_string()
}

async fn wait_header(b: &Browser, want: &str) {
    let what = format!("the header to read {want:?}");
    wait_until(&what, Duration::from_secs(30), || async {
        let now = header(b).await;
        if now == want {
            return Ok(());
        }
        let conns = b
            .exec(
                "return [...switchboard.store.connections.values()].filter(s => s.state !== 'connected');",
                json!([]),
            )
            .await;
        Err(format!("it reads {now:?}; not connected: {conns}"))
    })
    .await;
}

/// The banner: hidden, its lines (class and text).
async fn banner(b: &Browser) -> Value {
    b.exec(
        "const e = document.getElementById('banner');
         return { hidden: e.hidden,
                  items: [...e.querySelectorAll('.banner-item')].map(p => ({ kind: p.className, text: p.textContent })) };",
        json!([]),
    )
    .await
}

/// CDP `Performance.getMetrics` as a name → value map.
async fn cdp_metrics(b: &Browser) -> Value {
    let v = b.cdp("Performance.getMetrics", json!({})).await;
    let mut out = serde_json::Map::new();
    for m in v["metrics"].as_array().cloned().unwrap_or_default() {
        if let Some(name) = m["name"].as_str() {
            out.insert(name.to_string(), m["value"].clone());
        }
    }
    Value::Object(out)
}

fn delta(a: &Value, b: &Value, key: &str) -> f64 {
    b[key].as_f64().unwrap_or(0.0) - a[key].as_f64().unwrap_or(0.0)
}

/// Every card agrees with the page's store, and every count with a full recount:
/// what the incremental updates drew is what a rebuild would draw.
const CONSISTENCY: &str = "
    const s = switchboard.store;
    const kinds = ['idle','ringing','inUse','busy','onHold','unavailable','unknown'];
    const kind = (st) => kinds.includes(st) ? st : 'unknown';
    let wrong = 0;
    for (const c of document.querySelectorAll('#extensions .ext')) {
      const e = s.extensions.get(`${c.dataset.pbx}\\u0000${c.dataset.ext}`);
      if (!e || kind(e.state) !== c.dataset.state) wrong += 1;
    }
    const recount = new Map(kinds.map(k => [k, 0]));
    for (const e of s.extensions.values()) recount.set(kind(e.state), recount.get(kind(e.state)) + 1);
    const chips = kinds.filter(k => Number(document.querySelector(`#state-filter [data-state=${k}] .chip-count`).textContent) !== recount.get(k));
    const groups = [...document.querySelectorAll('#extensions .pbx-group')].filter(g => {
      const per = new Map();
      for (const c of g.querySelectorAll('.ext')) per.set(c.dataset.state, (per.get(c.dataset.state) || 0) + 1);
      const shown = [...g.querySelectorAll('.group-count')].map(x => x.textContent).sort().join();
      const want = [...per].map(([k, n]) => `${n} ${document.querySelector(`#state-filter [data-state=${k}] span:nth-child(2)`).textContent}`).sort().join();
      return shown !== want;
    }).map(g => g.dataset.pbx);
    return { cards: document.querySelectorAll('#extensions .ext').length, wrong, chips, groups };";

// The lock is held across awaits on purpose: the other test waits for all of this one.
#[allow(clippy::await_holding_lock)]
#[actix_rt::test]
async fn twenty_pbxs_on_one_board() {
    let Some(found) = crate::common::browser::browser_or_skip("twenty_pbxs_on_one_board") else {
        return;
    };
    let _one = ONE_BOARD_AT_A_TIME
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().expect("temp dir");
    let sims = spawn_sims(PBXS, PER_PBX);
    let service = Service::start(tmp.path(), &pbx_env(&sims));
    service.wait_connected(PBXS, None).await;
    let total = PBXS as u32 * PER_PBX;

    let b = open_browser(tmp.path(), &found).await;
    b.resize(1600, 1000).await;

    // 1. Time to first render: navigation to all 2,000 cards in the page.
    let opened = Instant::now();
    b.goto(&service.url("/")).await;
    b.wait_js(
        "every card on the page",
        Duration::from_secs(60),
        &format!("return document.querySelectorAll('#extensions .ext').length === {total};"),
    )
    .await;
    let wall = opened.elapsed();
    let first = b
        .exec("return switchboard.perf.firstRender;", json!([]))
        .await;
    println!(
        "first render of {total} cards: {:.0} ms after navigation start (page clock); {wall:?} from the WebDriver navigate call",
        first.as_f64().unwrap_or(f64::NAN)
    );

    // 2. The header sums the PBXs up.
    wait_header(&b, "20 PBXs · 20 connected").await;

    // 3. One section per PBX, in order, 100 cards each, counts in the heading.
    let groups = b
        .exec(
            "return [...document.querySelectorAll('#extensions > .pbx-group')].map(g =>
               ({ pbx: g.dataset.pbx, cards: g.querySelectorAll('.ext').length,
                  head: g.querySelector('.group-toggle').textContent }));",
            json!([]),
        )
        .await;
    let groups = groups.as_array().cloned().unwrap_or_default();
    let names: Vec<String> = groups
        .iter()
        .map(|g| g["pbx"].as_str().unwrap_or_default().to_string())
        .collect();
    let expected: Vec<String> = (0..PBXS).map(pbx_name).collect();
    assert_eq!(names, expected, "one section per PBX, in order");
    for g in &groups {
        assert_eq!(g["cards"], json!(PER_PBX), "cards of {}", g["pbx"]);
        let head = g["head"].as_str().unwrap_or_default();
        assert!(
            head.contains(&format!("{PER_PBX} extensions")),
            "heading counts: {head}"
        );
    }
    let filter_shown = b
        .exec(
            "return !document.getElementById('pbx-filter-box').hidden;",
            json!([]),
        )
        .await;
    assert_eq!(filter_shown, json!(true), "the PBX filter is offered");

    // 4. Full numbers: no PBX tag on a card and no number cut short.
    const NUMBERS: &str = "const cards = [...document.querySelectorAll('#extensions .ext')];
         const bad = cards.filter(c => c.querySelector('.ext-num').textContent !== c.dataset.ext).length;
         const first = [...document.querySelectorAll('.pbx-group[data-pbx=p01] .ext-num')];
         const cut = first.filter(n => n.scrollWidth > n.clientWidth || n.getBoundingClientRect().right > n.closest('.ext').getBoundingClientRect().right).length;
         return { bad, cut, measured: first.length, sample: first[0].textContent };";
    let numbers = b.exec(NUMBERS, json!([])).await;
    assert_eq!(
        numbers["bad"], 0,
        "every card shows its own number: {numbers}"
    );
    assert_eq!(numbers["cut"], 0, "no number overflows its card: {numbers}");
    assert_eq!(numbers["sample"], "1001", "{numbers}");
    // At phone width too.
    b.resize(390, 844).await;
    let phone = b.exec(NUMBERS, json!([])).await;
    assert_eq!(
        phone["cut"], 0,
        "no number overflows at phone width: {phone}"
    );
    b.screenshot("many-pbx-phone.png").await;
    b.resize(1600, 1000).await;

    // 5. A PBX's section closes (button, aria-expanded) and opens from the keyboard.
    let toggle = ".pbx-group[data-pbx=p05] .group-toggle";
    let before = b
        .exec(
            "const t = document.querySelector(arguments[0]);
             return { tag: t.tagName, expanded: t.getAttribute('aria-expanded'), tab: t.tabIndex };",
            json!([toggle]),
        )
        .await;
    assert_eq!(
        before,
        json!({ "tag": "BUTTON", "expanded": "true", "tab": 0 })
    );
    b.click(toggle).await;
    // Visible cards of p04, p05 and p06.
    let visible = "['p04', 'p05', 'p06'].map(p =>
        [...document.querySelectorAll(`.pbx-group[data-pbx=${p}] .ext`)].filter(c => c.checkVisibility()).length)";
    let closed = b
        .wait_js(
            "p05's section to close",
            SOON,
            &format!(
                "if (document.querySelector('{toggle}').getAttribute('aria-expanded') !== 'false') return null; return {visible};"
            ),
        )
        .await;
    assert_eq!(
        closed,
        json!([PER_PBX, 0, PER_PBX]),
        "only p05's cards hidden"
    );
    b.type_into(toggle, "\u{E007}").await;
    let open = b
        .wait_js(
            "p05's section to open again with Enter",
            SOON,
            &format!(
                "if (document.querySelector('{toggle}').getAttribute('aria-expanded') !== 'true') return null; return {visible};"
            ),
        )
        .await;
    assert_eq!(open, json!([PER_PBX, PER_PBX, PER_PBX]));

    // 6. The PBX filter shows one PBX's cards only.
    b.click("#pbx-filter option[value=p07]").await;
    let only = b
        .wait_js(
            "the PBX filter to leave p07",
            SOON,
            "const v = [...document.querySelectorAll('#extensions .ext')].filter(c => c.checkVisibility());
             const groups = [...document.querySelectorAll('#extensions .pbx-group')].filter(g => !g.hidden).map(g => g.dataset.pbx);
             return v.length && v.every(c => c.dataset.pbx === 'p07')
               ? { cards: v.length, groups, total: document.getElementById('ext-total').textContent } : null;",
        )
        .await;
    assert_eq!(
        only,
        json!({ "cards": PER_PBX, "groups": ["p07"], "total": format!("{PER_PBX} of {total}") })
    );
    b.click("#pbx-filter option[value='']").await;
    b.wait_js(
        "every section back",
        SOON,
        &format!("return document.getElementById('ext-total').textContent === '{total}' && [...document.querySelectorAll('#extensions .pbx-group')].every(g => !g.hidden);"),
    )
    .await;

    // 7. A change on one PBX reaches its card and its heading, not the same number elsewhere.
    sims[2].set_extension_state("1005", 8);
    let changed = b
        .wait_js(
            "p03's 1005 ringing",
            SOON,
            "const c = (p) => document.querySelector(`.pbx-group[data-pbx=${p}] .ext[data-ext=\"1005\"]`).dataset.state;
             const head = document.querySelector('.pbx-group[data-pbx=p03] .group-counts').textContent;
             return c('p03') === 'ringing' && head.includes('1 ringing') ? { p01: c('p01'), head } : null;",
        )
        .await;
    assert_eq!(changed["p01"], "idle", "{changed}");

    // 8. Load: ~500 extension changes per second over the twenty PBXs.
    b.cdp("Performance.enable", json!({ "timeDomain": "timeTicks" }))
        .await;
    b.exec(
        "window.__longTasks = [];
         new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__longTasks.push(e.duration); })
           .observe({ type: 'longtask' });",
        json!([]),
    )
    .await;
    let changes = || async {
        b.exec("return switchboard.perf.changes;", json!([]))
            .await
            .as_f64()
            .unwrap_or(0.0)
    };
    // Calibrate: the simulator's rate counts AMI events, several per extension change.
    let mut rate = 60.0;
    for sim in &sims {
        sim.set_rate(rate);
    }
    let c0 = changes().await;
    let t0 = Instant::now();
    actix_rt::time::sleep(Duration::from_secs(3)).await;
    let seen = (changes().await - c0) / t0.elapsed().as_secs_f64();
    if seen > 0.0 {
        rate = (rate * TARGET_CHANGES_PER_S / seen).clamp(5.0, 2000.0);
        for sim in &sims {
            sim.set_rate(rate);
        }
    }
    actix_rt::time::sleep(Duration::from_secs(2)).await;
    let m0 = cdp_metrics(&b).await;
    let p0 = b
        .exec(
            "return { ...switchboard.perf, long: window.__longTasks.length };",
            json!([]),
        )
        .await;
    let t0 = Instant::now();
    actix_rt::time::sleep(MEASURE).await;
    let m1 = cdp_metrics(&b).await;
    let p1 = b
        .exec(
            "return { ...switchboard.perf, long: window.__longTasks.length,
                      longMax: Math.max(0, ...window.__longTasks) };",
            json!([]),
        )
        .await;
    let secs = t0.elapsed().as_secs_f64();
    for sim in &sims {
        sim.set_rate(0.0);
    }
    let per_s = |key: &str| delta(&p0, &p1, key) / secs;
    let got = per_s("changes");
    let draws = delta(&p0, &p1, "draws");
    println!(
        "load: simulator rate {rate:.0} events/s x {PBXS} PBXs -> {got:.0} extension changes/s on the page over {secs:.1} s"
    );
    let ms_per_s = |key: &str| delta(&m0, &m1, key) * 1000.0 / secs;
    let (task, script) = (ms_per_s("TaskDuration"), ms_per_s("ScriptDuration"));
    let (style, layout) = (ms_per_s("RecalcStyleDuration"), ms_per_s("LayoutDuration"));
    println!(
        "main thread per second of updates (CDP Performance.getMetrics deltas): task {task:.0} ms = script {script:.0} + style {style:.0} + layout {layout:.0} + other (paint, GC, messaging) {:.0}; {:.2} ms per change",
        task - script - style - layout,
        task / got.max(1.0),
    );
    println!(
        "drawing (performance.now around each frame's draw): {:.1} frames/s, {:.2} ms per frame, {:.1} ms/s; long tasks (>50 ms): {} (longest {:.0} ms)",
        draws / secs,
        delta(&p0, &p1, "drawMs") / draws.max(1.0),
        delta(&p0, &p1, "drawMs") / secs,
        delta(&p0, &p1, "long"),
        p1["longMax"].as_f64().unwrap_or(0.0),
    );
    assert!(got > 0.0, "changes reached the page under load");
    // Quiet again: the page ends where a full rebuild would.
    actix_rt::time::sleep(Duration::from_secs(2)).await;
    let check = b
        .wait_js(
            "the page to settle after the load",
            SOON,
            &format!("const r = (() => {{ {CONSISTENCY} }})(); return r.wrong === 0 && !r.chips.length && !r.groups.length ? r : null;"),
        )
        .await;
    assert_eq!(check["cards"], json!(total));

    // 9. PBXs go down: one banner line names them all; the header sums them up.
    sims[2].stop();
    sims[6].stop();
    sims[10].refuse_logins(true);
    sims[10].drop_connections();
    wait_header(&b, "20 PBXs · 17 connected · 3 down: p03, p07, p11").await;
    let down = wait_until(
        "one banner line naming the three PBXs",
        Duration::from_secs(30),
        || async {
            let v = banner(&b).await;
            let text = v["items"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (v["hidden"] == false
                && text.contains("Login refused: p11")
                && text.contains("Reconnecting: p03, p07"))
            .then_some(v)
        },
    )
    .await;
    println!("banner with three PBXs down: {}", down["items"][0]["text"]);
    assert_eq!(
        down["items"].as_array().map(Vec::len),
        Some(1),
        "exactly one banner line: {down}"
    );
    assert!(
        down["items"][0]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("3 of 20 PBXs not connected")),
        "{down}"
    );
    let marked = b
        .exec(
            "return ['p03', 'p11', 'p04'].map(p => document.querySelector(`.pbx-group[data-pbx=${p}] .pbx-conn`).textContent);",
            json!([]),
        )
        .await;
    assert_eq!(marked, json!(["reconnecting", "login refused", ""]));
    let shot = b.screenshot("many-pbx.png").await;
    println!("screenshot: {}", shot.display());

    sims[14].stop();
    sims[18].stop();
    wait_header(&b, "20 PBXs · 15 connected · 5 down: p03, p07, p11 +2 more").await;
    let five = banner(&b).await;
    assert_eq!(five["items"].as_array().map(Vec::len), Some(1), "{five}");
    let text = five["items"][0]["text"].as_str().unwrap_or_default();
    for name in ["p03", "p07", "p11", "p15", "p19"] {
        assert!(text.contains(name), "the banner names {name}: {text}");
    }

    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.quit().await;
    for sim in &sims {
        sim.stop();
    }
}

#[allow(clippy::await_holding_lock)]
#[actix_rt::test]
async fn a_board_with_a_token() {
    let Some(found) = crate::common::browser::browser_or_skip("a_board_with_a_token") else {
        return;
    };
    let _one = ONE_BOARD_AT_A_TIME
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    const TOKEN: &str = "board-token-5Fq";
    const EXTENSIONS: u32 = 20;
    let tmp = tempfile::tempdir().expect("temp dir");
    let sims = spawn_sims(1, EXTENSIONS);
    let mut env = pbx_env(&sims);
    env.push(("API_TOKEN".to_string(), TOKEN.to_string()));
    let service = Service::start(tmp.path(), &env);
    service.wait_connected(1, Some(TOKEN)).await;
    let b = open_browser(tmp.path(), &found).await;

    // Opened once with the token: it leaves the address bar, the data loads.
    b.goto(&service.url(&format!("/?token={TOKEN}#calls")))
        .await;
    b.wait_js(
        "the cards over the token-checked WebSocket",
        SOON,
        &format!("return switchboard.ws === 'open' && document.querySelectorAll('#extensions .ext').length === {EXTENSIONS};"),
    )
    .await;
    let where_ = b
        .exec(
            "return { href: location.href, kept: sessionStorage.getItem('switchboard.apiToken'),
                      local: localStorage.getItem('switchboard.apiToken'), header: document.getElementById('pbx-name').textContent };",
            json!([]),
        )
        .await;
    let href = where_["href"].as_str().unwrap_or_default();
    assert!(
        !href.contains(TOKEN) && !href.contains("token"),
        "address: {href}"
    );
    assert!(
        href.ends_with("/#calls"),
        "the rest of the address stays: {href}"
    );
    assert_eq!(where_["kept"], TOKEN, "kept for this tab: {where_}");
    assert_eq!(where_["local"], Value::Null, "not kept beyond the tab");
    assert_eq!(where_["header"], "p01", "one PBX reads as before");
    let grouped = b
        .exec(
            "return { groups: document.querySelectorAll('.pbx-group').length, filter: document.getElementById('pbx-filter-box').hidden };",
            json!([]),
        )
        .await;
    assert_eq!(
        grouped,
        json!({ "groups": 0, "filter": true }),
        "no grouping chrome with one PBX"
    );

    // fetch() carries it as a bearer header: the refresh (POST) is token-checked.
    b.click("#refresh-btn").await;
    let stats = b
        .wait_js(
            "the refresh statistics",
            Duration::from_secs(30),
            "const r = document.getElementById('refresh-result');
             return !r.hidden && r.dataset.kind !== 'progress' ? { kind: r.dataset.kind, text: r.textContent } : null;",
        )
        .await;
    assert_eq!(stats["kind"], "ok", "{stats}");

    // The admin page (token-checked API) in the same tab uses the kept token.
    b.goto(&service.url("/admin.html")).await;
    b.wait_js(
        "the actor table",
        SOON,
        "return document.querySelectorAll('#actors tr').length > 0;",
    )
    .await;

    // Back in history: the entry of the first visit no longer holds the token.
    b.exec("history.back();", json!([])).await;
    let back = b
        .wait_js(
            "the first page again, from history",
            SOON,
            "return location.pathname === '/' && document.readyState === 'complete' ? location.href : null;",
        )
        .await;
    let back = back.as_str().unwrap_or_default();
    assert!(!back.contains("token"), "history entry: {back}");
    assert!(back.ends_with("/#calls"), "history entry: {back}");

    // Without a token the page says how to give it.
    b.exec("sessionStorage.clear();", json!([])).await;
    b.goto(&service.url("/")).await;
    let told = b
        .wait_js(
            "the banner to ask for the token",
            SOON,
            "const e = document.getElementById('banner'); return !e.hidden && e.textContent.includes('needs its access token') ? e.textContent : null;",
        )
        .await;
    assert!(
        told.as_str()
            .is_some_and(|t| t.contains("open it once as /?token=…")),
        "{told}"
    );
    // A wrong token: refused, and the page says so.
    b.goto(&service.url("/?token=not-the-token")).await;
    b.wait_js(
        "the banner to say the token was refused",
        SOON,
        "const e = document.getElementById('banner'); return !e.hidden && e.textContent.includes('token was refused');",
    )
    .await;
    let cards = b
        .exec(
            "return document.querySelectorAll('#extensions .ext').length;",
            json!([]),
        )
        .await;
    assert_eq!(cards, json!(0), "nothing loads without the right token");
    let _ = b.console().await; // the refused handshakes are logged as errors, as expected
    b.quit().await;
    sims[0].stop();
}
