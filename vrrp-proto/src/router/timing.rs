//! The timer formulas of RFC 9568 section 6.1 (v3) and RFC 3768 section 6.1 (v2), as
//! `Duration` math.
//!
//! The RFCs write the formulas in the version's unit (v3 in centiseconds, v2 in seconds) as
//! real-number fractions; they are computed here exactly in `Duration` (nanoseconds), with no
//! truncation to the advertised unit. For example v3, priority 100, Master_Adver_Interval of 100
//! centiseconds: Skew_Time = 156 * 1 s / 256 = 609.375 ms.

use core::time::Duration;

use crate::types::{AdvertInterval, Priority};

/// Skew_Time for a router of `priority` following a master that advertises every
/// `master_adver_interval`.
///
/// - v3 (RFC 9568 section 6.1): `((256 - Priority) * Master_Adver_Interval) / 256`.
/// - v2 (RFC 3768 section 6.1): `(256 - Priority) / 256` seconds, independent of the interval.
pub fn skew_time(priority: Priority, master_adver_interval: AdvertInterval) -> Duration {
    let weight = 256 - u32::from(priority.get());
    match master_adver_interval {
        AdvertInterval::V3(cs) => cs.to_duration() * weight / 256,
        AdvertInterval::V2(_) => Duration::from_secs(u64::from(weight)) / 256,
    }
}

/// Master_Down_Interval: `3 * Master_Adver_Interval + Skew_Time` (RFC 9568 section 6.1; for v2,
/// RFC 3768 section 6.1 says `3 * Advertisement_Interval + Skew_Time`, which is the same
/// value because a v2 router only accepts adverts with its own interval).
pub fn master_down_interval(priority: Priority, master_adver_interval: AdvertInterval) -> Duration {
    master_adver_interval.to_duration() * 3 + skew_time(priority, master_adver_interval)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Centiseconds, Seconds};

    #[test]
    fn v3_skew_scales_with_interval() {
        let i = AdvertInterval::V3(Centiseconds::new(100).unwrap());
        assert_eq!(skew_time(Priority(100), i), Duration::from_micros(609_375));
        let i2 = AdvertInterval::V3(Centiseconds::new(200).unwrap());
        assert_eq!(
            skew_time(Priority(100), i2),
            Duration::from_micros(1_218_750)
        );
        assert_eq!(
            master_down_interval(Priority(100), i),
            Duration::from_micros(3_609_375)
        );
    }

    #[test]
    fn v2_skew_is_independent_of_interval() {
        let a = skew_time(Priority(200), AdvertInterval::V2(Seconds(1)));
        let b = skew_time(Priority(200), AdvertInterval::V2(Seconds(5)));
        assert_eq!(a, b);
        assert_eq!(a, Duration::from_micros(218_750));
        assert_eq!(
            master_down_interval(Priority(200), AdvertInterval::V2(Seconds(5))),
            Duration::from_micros(15_218_750)
        );
    }

    #[test]
    fn higher_priority_has_shorter_skew() {
        let i = AdvertInterval::V3(Centiseconds::new(100).unwrap());
        assert!(skew_time(Priority(254), i) < skew_time(Priority(1), i));
    }
}
