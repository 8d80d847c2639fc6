//! Skipping a test whose server is missing, visibly.
//!
//! A skipped test still reports PASS to `cargo test`, and what it prints to stderr is
//! hidden for passing tests, so a run could look green while whole suites never ran.
//! Two guards:
//! - with `SWITCHBOARD_REQUIRE_SERVICES=1` (set by `.ci/test`) or `CI` set (as CI
//!   runners do), [`services_required`] is true and helpers panic instead of skipping;
//! - every skip appends one line (test and reason) to [`skip_log_path`], which
//!   `.ci/test` empties at its start and prints at its end.

use std::io::Write;
use std::path::PathBuf;

/// True when a missing server must fail the test instead of skipping it.
pub fn services_required() -> bool {
    let set = |name: &str| {
        std::env::var(name).is_ok_and(|v| {
            let v = v.trim();
            !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false")
        })
    };
    set("SWITCHBOARD_REQUIRE_SERVICES") || set("CI")
}

/// Where skips are recorded: `SWITCHBOARD_SKIP_LOG`, else `test-skips.txt` in the
/// cargo target directory (`CARGO_TARGET_DIR` or the crate's `target/`).
pub fn skip_log_path() -> PathBuf {
    if let Ok(p) = std::env::var("SWITCHBOARD_SKIP_LOG") {
        if !p.trim().is_empty() {
            return PathBuf::from(p);
        }
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("test-skips.txt")
}

/// The running test as `binary::test::path` (libtest names each test's thread after it).
pub fn current_test() -> String {
    let binary = std::env::args()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .map(|s| match s.rsplit_once('-') {
            // cargo names test binaries `<name>-<hash>`
            Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_string(),
            _ => s,
        })
        .unwrap_or_else(|| "?".to_string());
    let test = std::thread::current()
        .name()
        .unwrap_or("(unnamed thread)")
        .to_string();
    format!("{binary}::{test}")
}

/// Records that the running test skipped because of `reason`, on stderr and in the
/// skip log. Panics instead when [`services_required`].
pub fn skip(reason: &str) {
    assert!(
        !services_required(),
        "{reason} (SWITCHBOARD_REQUIRE_SERVICES or CI is set, so this fails instead of skipping)"
    );
    let line = format!("{}: {reason}", current_test());
    eprintln!("SKIPPED {line}");
    let path = skip_log_path();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        Ok(mut f) => {
            let _ = writeln!(f, "{}", line.replace('\n', " "));
        }
        Err(e) => eprintln!("could not record the skip in {}: {e}", path.display()),
    }
}
