//! Time as the core sees it: a number the caller passes in (the core never reads a clock),
//! and the one calendar routine every formatter uses.

use core::fmt;

/// A point in time, in nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// From nanoseconds since the epoch.
    pub const fn from_unix_nanos(nanos: i64) -> Self {
        Timestamp(nanos)
    }
    /// From milliseconds since the epoch (JavaScript's `Date.now()`), saturating.
    pub const fn from_unix_millis(millis: i64) -> Self {
        Timestamp(millis.saturating_mul(1_000_000))
    }
    /// Nanoseconds since the epoch.
    pub const fn unix_nanos(self) -> i64 {
        self.0
    }
}

impl Timestamp {
    /// The UTC calendar date and time of the second this falls in.
    pub fn to_utc(self) -> UtcDateTime {
        let secs = self.0.div_euclid(1_000_000_000);
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let rem = secs.rem_euclid(86_400) as u32;
        UtcDateTime { year, month, day, hour: rem / 3600, minute: rem / 60 % 60, second: rem % 60 }
    }
}

/// A UTC calendar date and time, to the second. Displays as ISO 8601: `2024-01-02T03:04:05Z`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcDateTime {
    /// The year (proleptic Gregorian).
    pub year: i64,
    /// 1 to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
    /// 0 to 23.
    pub hour: u32,
    /// 0 to 59.
    pub minute: u32,
    /// 0 to 59.
    pub second: u32,
}

impl fmt::Display for UtcDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

impl UtcDateTime {
    /// Midnight UTC of an ISO 8601 calendar date (`2026-12-01`), if `text` is one that exists.
    pub fn parse_date(text: &str) -> Option<Timestamp> {
        let b = text.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let number = |r: core::ops::Range<usize>| -> Option<u32> {
            b[r.clone()].iter().all(u8::is_ascii_digit).then(|| text[r].parse().ok()).flatten()
        };
        let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
        let days = days_from_civil(i64::from(year), month, day);
        // A day that does not exist (02-30) comes back as another date.
        if !(1..=12).contains(&month) || civil_from_days(days) != (i64::from(year), month, day) {
            return None;
        }
        Some(Timestamp::from_unix_millis(days * 86_400_000))
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A proleptic Gregorian date to days since 1970-01-01.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips_and_formats() {
        for days in [-719_468, -1, 0, 1, 59, 365, 10_957, 19_723, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        let t = Timestamp::from_unix_millis(1_704_164_645_000);
        assert_eq!(alloc::format!("{}", t.to_utc()), "2024-01-02T03:04:05Z");
        assert_eq!(alloc::format!("{}", Timestamp::from_unix_millis(-1).to_utc()), "1969-12-31T23:59:59Z");
        let day = UtcDateTime::parse_date("2024-01-02").unwrap();
        assert_eq!(alloc::format!("{}", day.to_utc()), "2024-01-02T00:00:00Z");
        for bad in ["2024-02-30", "2024-13-01", "2024-1-02", "24-01-02x", "2024/01/02", ""] {
            assert_eq!(UtcDateTime::parse_date(bad), None, "{bad}");
        }
    }
}
