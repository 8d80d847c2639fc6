//! A tiny W3C WebDriver client over `awc`, plus the child-process plumbing a browser
//! test needs: free loopback ports, children killed by PID when dropped, screenshots
//! saved as test artifacts.
//!
//! Only what the dashboard test uses: new session, navigate, execute script, find and
//! click, window size, screenshot, browser log (`/se/log`, ChromeDriver's extension).
//! ChromeDriver speaks plain HTTP on loopback, so no TLS stack is involved.

use super::wait::wait_until;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

/// The W3C key of an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Chromium and ChromeDriver, when both are installed (`CHROMIUM` / `CHROMEDRIVER`
/// override the paths); otherwise the reason to skip.
pub fn find_browser() -> Result<(PathBuf, PathBuf), String> {
    let pick = |var: &str, names: &[&str]| -> Option<PathBuf> {
        if let Ok(p) = std::env::var(var) {
            let p = PathBuf::from(p);
            return p.is_file().then_some(p);
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        names.iter().find_map(|name| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
    };
    let chromium = pick(
        "CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome", "chrome"],
    )
    .ok_or("no Chromium found (install the Debian package `chromium` or set CHROMIUM)")?;
    let driver = pick("CHROMEDRIVER", &["chromedriver"])
        .ok_or("no ChromeDriver found (install `chromium-driver` or set CHROMEDRIVER)")?;
    Ok((chromium, driver))
}

/// Chromium and ChromeDriver for test `test`, or `None` (with the reason printed) to
/// skip it. Under CI (the variable `CI` set and not empty) a missing browser fails
/// the test instead: a dashboard test that silently skips there tests nothing.
pub fn browser_or_skip(test: &str) -> Option<(PathBuf, PathBuf)> {
    match find_browser() {
        Ok(found) => Some(found),
        Err(why) => {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
            assert!(
                !ci,
                "{test}: {why} (CI is set, so a missing browser is a failure)"
            );
            eprintln!("SKIPPED {test}: {why}");
            None
        }
    }
}

/// A port free on 127.0.0.1 right now (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0 to find a free port")
}

/// A child process killed (by its PID, through `Child::kill`) when dropped, so a
/// failing test never leaves it behind.
pub struct ChildGuard {
    name: String,
    child: Option<Child>,
}

impl ChildGuard {
    /// Starts `cmd`; its output goes to `log` when given.
    pub fn spawn(name: &str, mut cmd: Command, log: Option<&Path>) -> Self {
        match log {
            Some(path) => {
                let out = std::fs::File::create(path).expect("creating a child log file");
                let err = out.try_clone().expect("cloning a log file handle");
                cmd.stdout(Stdio::from(out)).stderr(Stdio::from(err));
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        cmd.stdin(Stdio::null());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Self {
            name: name.to_string(),
            child: Some(child),
        }
    }

    /// Kills the child now and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }

    /// Panics when the child has already exited.
    pub fn assert_running(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{} exited early: {status}", self.name);
            }
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Where screenshots go: `$CARGO_TARGET_DIR/test-artifacts` (else `./target/…`).
pub fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target")));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("creating the test artifacts directory");
    dir
}

/// A WebDriver session on a ChromeDriver we started.
pub struct Browser {
    client: awc::Client,
    base: String,
    session: String,
    _driver: ChildGuard,
}

impl Browser {
    /// Starts ChromeDriver on a free port and opens a headless Chromium session with a
    /// fresh profile in `profile`.
    pub async fn start(chromium: &Path, chromedriver: &Path, profile: &Path, log: &Path) -> Self {
        let port = free_port();
        let mut cmd = Command::new(chromedriver);
        cmd.arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .arg(format!("--log-path={}", log.display()));
        let driver = ChildGuard::spawn("chromedriver", cmd, None);
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(60))
            .finish();
        let base = format!("http://127.0.0.1:{port}");
        let status_url = format!("{base}/status");
        wait_until("chromedriver to listen", Duration::from_secs(20), || {
            let req = client.get(&status_url);
            async move {
                let mut res = req.send().await.ok()?;
                let v: Value = res.json().await.ok()?;
                v["value"]["ready"].as_bool().filter(|r| *r)
            }
        })
        .await;
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium.to_string_lossy(),
                        "args": [
                            "--headless", "--no-sandbox", "--disable-gpu",
                            "--disable-background-networking", "--disable-quic",
                            "--no-first-run", "--disable-component-update", "--disable-sync",
                            "--disable-dev-shm-usage",
                            format!("--user-data-dir={}", profile.display()),
                            "--window-size=1280,900",
                        ],
                    },
                    "goog:loggingPrefs": { "browser": "ALL" },
                }
            }
        });
        let mut browser = Self {
            client,
            base,
            session: String::new(),
            _driver: driver,
        };
        let v = browser.call("POST", "/session", Some(caps)).await;
        browser.session = v["sessionId"]
            .as_str()
            .expect("new session answers a sessionId")
            .to_string();
        browser
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{}", self.base, path);
        let req = match method {
            "GET" => self.client.get(&url),
            "DELETE" => self.client.delete(&url),
            _ => self.client.post(&url),
        };
        let mut res = match body {
            Some(b) => req.send_json(&b).await,
            None => req.send().await,
        }
        .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"));
        let v: Value = res
            .json()
            .limit(64 << 20)
            .await
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: bad answer: {e}"));
        if !res.status().is_success() {
            panic!("webdriver {method} {path}: {} {}", res.status(), v["value"]);
        }
        v.get("value").cloned().unwrap_or(Value::Null)
    }

    fn path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url` and waits for the document to load.
    pub async fn goto(&self, url: &str) {
        self.call("POST", &self.path("/url"), Some(json!({ "url": url })))
            .await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub async fn exec(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            &self.path("/execute/sync"),
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// Polls `script` until it returns something truthy; returns that value.
    pub async fn wait_js(&self, what: &str, timeout: Duration, script: &str) -> Value {
        wait_until(what, timeout, || async {
            let v = self.exec(script, json!([])).await;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            truthy.then_some(v)
        })
        .await
    }

    /// Runs a Chrome DevTools Protocol command (ChromeDriver's `goog/cdp/execute`).
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.call(
            "POST",
            &self.path("/goog/cdp/execute"),
            Some(json!({ "cmd": cmd, "params": params })),
        )
        .await
    }

    /// The WebDriver id of the first element matching `css`.
    async fn element(&self, css: &str) -> String {
        let el = self
            .call(
                "POST",
                &self.path("/element"),
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        el[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {el}"))
            .to_string()
    }

    /// Clicks the first element matching `css`.
    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.call(
            "POST",
            &self.path(&format!("/element/{id}/click")),
            Some(json!({})),
        )
        .await;
    }

    /// Types `text` into the element matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.call(
            "POST",
            &self.path(&format!("/element/{id}/value")),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Resizes the window (CSS pixels).
    pub async fn resize(&self, width: u32, height: u32) {
        self.call(
            "POST",
            &self.path("/window/rect"),
            Some(json!({ "width": width, "height": height })),
        )
        .await;
    }

    /// Saves a PNG screenshot as `name` in the artifacts directory; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let v = self.call("GET", &self.path("/screenshot"), None).await;
        let png = base64_decode(v.as_str().expect("screenshot is a base64 string"))
            .expect("screenshot is valid base64");
        assert!(png.starts_with(b"\x89PNG"), "screenshot is a PNG");
        let path = artifacts_dir().join(name);
        std::fs::write(&path, png).expect("writing a screenshot");
        path
    }

    /// Browser console entries since the last call (ChromeDriver's `/se/log`).
    pub async fn console(&self) -> Vec<Value> {
        let v = self
            .call(
                "POST",
                &self.path("/se/log"),
                Some(json!({ "type": "browser" })),
            )
            .await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// Console entries of level SEVERE (errors, failed loads, uncaught exceptions).
    pub async fn console_errors(&self) -> Vec<String> {
        self.console()
            .await
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Ends the session (the browser exits; ChromeDriver is killed on drop).
    pub async fn quit(mut self) {
        let _ = self
            .client
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
        self.session.clear();
    }
}

impl Drop for Browser {
    /// A test that panics never reaches `quit`: end the session here, blocking, so
    /// ChromeDriver closes Chromium before it is killed itself (a killed ChromeDriver
    /// leaves its browser running).
    fn drop(&mut self) {
        if self.session.is_empty() {
            return;
        }
        let Some(addr) = self.base.strip_prefix("http://") else {
            return;
        };
        let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
            return;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let request = format!(
            "DELETE /session/{} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.session
        );
        let _ = stream.write_all(request.as_bytes());
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
    }
}

/// Standard base64 (with or without padding) to bytes.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let n = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + n]);
    }
    Some(out)
}

#[test]
fn base64_decodes() {
    assert_eq!(base64_decode("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
    assert_eq!(base64_decode("aGk").as_deref(), Some(&b"hi"[..]));
    assert_eq!(base64_decode("YWJj").as_deref(), Some(&b"abc"[..]));
    assert_eq!(base64_decode("a"), None);
}
