//! CPU time by thread name, read from `/proc/self/task`: where a run's time went
//! (the AMI reader and actors, the store writer, the HTTP workers), so a ratio
//! that falls can be put down to the stage that grew.

use std::collections::BTreeMap;

/// CPU time (user + system) per thread name, in clock ticks, of the threads
/// alive now; threads of the same name are summed.
pub(crate) fn cpu_by_thread() -> BTreeMap<String, u64> {
    let mut by_name = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return by_name;
    };
    for task in tasks.flatten() {
        let dir = task.path();
        let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(dir.join("comm")),
            std::fs::read_to_string(dir.join("stat")),
        ) else {
            continue; // the thread ended meanwhile
        };
        // The fields after the name (which may hold spaces) start after its ')'.
        let Some(rest) = stat.rfind(')').map(|at| &stat[at + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'.
        let ticks = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
            .sum::<u64>();
        *by_name.entry(name.trim().to_string()).or_insert(0) += ticks;
    }
    by_name
}

/// `after - before` per thread name, in seconds, largest first, as one line.
pub(crate) fn spent(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> String {
    // SAFETY: sysconf only reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut rows: Vec<(String, f64)> = after
        .iter()
        .map(|(name, &t)| {
            let was = before.get(name).copied().unwrap_or(0);
            (name.clone(), t.saturating_sub(was) as f64 / hz)
        })
        .filter(|(_, s)| *s > 0.0)
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f64 = rows.iter().map(|(_, s)| s).sum();
    let parts: Vec<String> = rows
        .iter()
        .map(|(name, s)| format!("{name} {s:.2} s ({:.0} %)", 100.0 * s / total.max(1e-9)))
        .collect();
    format!("CPU {total:.2} s: {}", parts.join(", "))
}
