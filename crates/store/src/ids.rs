//! Identifiers: 26 hex-ish characters that sort by creation time, unique
//! across nodes without coordination (48 bits of milliseconds, 80 random).

use std::sync::atomic::{AtomicU64, Ordering};

static LAST: AtomicU64 = AtomicU64::new(0);

/// A new id with `prefix` (`dec_`, `evt_`, …): time-ordered, so the id
/// doubles as the decision log's paging cursor.
pub fn new_id(prefix: &str) -> String {
    // Monotonic within a process even when the clock steps back.
    let now = crate::now_ms().max(0) as u64;
    let ms = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(last.max(now))
        })
        .unwrap_or(now)
        .max(now);
    let hi = fastrand::u64(..) & 0xffff;
    let lo = fastrand::u64(..);
    format!("{prefix}{ms:012x}{hi:04x}{lo:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_time_ordered() {
        let a = new_id("dec_");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id("dec_");
        assert!(a < b, "{a} < {b}");
        assert_eq!(a.len(), 4 + 32);
        let many: std::collections::HashSet<_> = (0..10_000).map(|_| new_id("x")).collect();
        assert_eq!(many.len(), 10_000);
    }
}
