//! The process's resident set, from `/proc/self/statm`: what the memory benches
//! (`pipeline`, `soak`, `ingest -- rss`) read (`#[path]`-included by each).

/// Resident bytes now (0 when `/proc` cannot be read).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}
