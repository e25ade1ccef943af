//! Wall-clock time as the store records it: unix nanoseconds.

use std::time::SystemTime;

/// Unix time of `t` in nanoseconds (0 for a time before 1970).
pub fn unix_ns(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The current unix time in nanoseconds.
pub fn now_ns() -> u64 {
    unix_ns(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn before_the_epoch_is_zero_and_after_it_counts_nanoseconds() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        assert_eq!(unix_ns(t), 1_700_000_000_123_456_789);
        assert_eq!(unix_ns(SystemTime::UNIX_EPOCH - Duration::from_secs(1)), 0);
    }
}
