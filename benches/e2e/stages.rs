//! `E2E_STAGES=1`: where a latency run's milliseconds go, from the service's own
//! histograms (event `Timestamp:` → receipt by the AMI connection, → the hub's
//! flush to the subscribers' threads) beside what the subscribers measured, in
//! the same buckets. The stages are cumulative: the step from one row to the next
//! is what that part of the path added.

use crate::service::metric_value;

/// The histograms' bucket bounds (seconds) shown, from `src/metrics.rs`.
const SHOWN: &[f64] = &[0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01];

/// Prints one table: per stage, the share of events within each bound.
pub(crate) fn print(metrics: &str, client_us: &[i64], wire_us: &[i64]) {
    println!(
        "| stage (Timestamp → …) | events | ≤0.25 ms | ≤0.5 ms | ≤1 ms | ≤2 ms | ≤5 ms | ≤10 ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (label, name) in [
        (
            "AMI connection read",
            "switchboard_event_receipt_latency_seconds",
        ),
        (
            "hub flush (to the WebSocket threads)",
            "switchboard_event_delivery_latency_seconds",
        ),
    ] {
        let count = metric_value(metrics, &format!("{name}_count"));
        let shares: Vec<f64> = SHOWN
            .iter()
            .map(|le| bucket(metrics, name, *le) / count.max(1.0))
            .collect();
        row(label, count, &shares);
    }
    for (label, samples) in [
        ("subscriber receipt (recorded part)", client_us),
        (
            "… as the message's ms-truncated `ts` would have it",
            wire_us,
        ),
    ] {
        let n = samples.len() as f64;
        let shares: Vec<f64> = SHOWN
            .iter()
            .map(|le| {
                let us = (le * 1e6) as i64;
                samples.iter().filter(|&&l| l <= us).count() as f64 / n.max(1.0)
            })
            .collect();
        row(label, n, &shares);
    }
}

fn row(label: &str, count: f64, shares: &[f64]) {
    let cells: Vec<String> = shares
        .iter()
        .map(|s| format!("{:.2} %", s * 100.0))
        .collect();
    println!("| {label} | {count:.0} | {} |", cells.join(" | "));
}

/// The cumulative count of `name`'s bucket `le` (summed over labels).
fn bucket(metrics: &str, name: &str, le: f64) -> f64 {
    let want = format!("{name}_bucket");
    metrics
        .lines()
        .filter(|l| l.starts_with(&want))
        .filter(|l| {
            l.split("le=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .and_then(|v| v.parse::<f64>().ok())
                .is_some_and(|v| (v - le).abs() < le * 1e-6)
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}
