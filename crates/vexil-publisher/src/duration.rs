//! Durations as people write them in vexil.toml, plans and commands: `90d`, `15m`, `1h30m`,
//! `2w`, `45s` — whole numbers of weeks, days, hours, minutes and seconds, largest first.

use std::fmt;
use std::time::Duration;

const UNITS: [(char, u64); 5] = [('w', 604_800), ('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

/// Parses `text`; the error says what is accepted.
pub fn parse(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration (write it as 90d, 15m, 1h30m: w, d, h, m, s)");
    let mut total: u64 = 0;
    let mut rest = text.trim();
    let mut last_unit = usize::MAX;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let unit = rest[digits..].chars().next().ok_or_else(bad)?;
        let index = UNITS.iter().position(|(u, _)| *u == unit).ok_or_else(bad)?;
        // Largest unit first, each once: `1h30m`, not `30m1h` or `1h1h`.
        if last_unit != usize::MAX && index <= last_unit {
            return Err(bad());
        }
        last_unit = index;
        total = n.checked_mul(UNITS[index].1).and_then(|s| total.checked_add(s)).ok_or_else(bad)?;
        rest = &rest[digits + unit.len_utf8()..];
    }
    Ok(Duration::from_secs(total))
}

/// A duration as [`parse`] reads it back, in days and smaller units (`90d`, `1h30m`; `0s`).
pub struct Text(pub Duration);

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut secs = self.0.as_secs();
        if secs == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in UNITS.into_iter().skip(1) {
            if secs >= size {
                write!(f, "{}{unit}", secs / size)?;
                secs %= size;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_people_write() {
        for (text, secs) in [("90d", 90 * 86_400), ("15m", 900), ("1h30m", 5_400), ("1d2h", 93_600), ("45s", 45)] {
            assert_eq!(parse(text).unwrap().as_secs(), secs, "{text}");
            assert_eq!(Text(Duration::from_secs(secs)).to_string(), text);
        }
        assert_eq!(parse("2w").unwrap().as_secs(), 14 * 86_400);
        for bad in ["", "15", "m", "1.5h", "30m1h", "1h1h", "-1d", "1y", "99999999999999999999w"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
