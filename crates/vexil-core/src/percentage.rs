//! Percentages as GitLab stores them: 0 to 100 with up to three decimals.
//!
//! Flipper compares `crc32 % 100_000 < percentage * 1_000` in Ruby, where the percentage is an
//! Integer or a Float parsed from its decimal text. Holding the value as an exact count of
//! thousandths and deriving the f64 as `thousandths / 1000.0` reproduces Ruby bit for bit:
//! both operands of that division are exact, so IEEE division rounds the true decimal value
//! exactly once — the same double `String#to_f` returns. Products such as
//! `2.007 * 1000 = 2007.0000000000002` then open one more bucket than exact decimal arithmetic
//! would, as they do in GitLab.

use core::fmt;

/// Buckets in Flipper's percentage-of-actors space (`100 * SCALING_FACTOR`).
pub const BUCKETS: u32 = 100_000;

/// A percentage from 0 to 100 in steps of 0.001.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percentage(u32);

/// Why a percentage could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PercentageError {
    /// Not a plain decimal number (`abc`, `1e3`, `-1`, `+5`, `.5`, `5.`).
    NotANumber,
    /// More than three decimals (`2.0071`).
    TooPrecise,
    /// Above 100.
    OutOfRange,
}

impl fmt::Display for PercentageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PercentageError::NotANumber => "not a number from 0 to 100",
            PercentageError::TooPrecise => "more than three decimals",
            PercentageError::OutOfRange => "greater than 100",
        })
    }
}

impl Percentage {
    /// 0%.
    pub const ZERO: Percentage = Percentage(0);
    /// 100%.
    pub const HUNDRED: Percentage = Percentage(100_000);

    /// The percentage of `thousandths` / 1000, if it is at most 100.
    pub const fn from_thousandths(thousandths: u32) -> Option<Percentage> {
        if thousandths <= 100_000 {
            Some(Percentage(thousandths))
        } else {
            None
        }
    }

    /// The value in thousandths of a percent (25% is 25 000).
    pub const fn thousandths(self) -> u32 {
        self.0
    }

    /// The value as Ruby holds it after `String#to_f` of its decimal text.
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// Whether the value is 0.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Parses `0` to `100` with up to three decimals (`25`, `2.007`, `100.0`). Signs,
    /// exponents, spaces and bare points are refused: a release manager typing `1e3` meant
    /// something, and it was not 1000%.
    pub fn parse(text: &str) -> Result<Percentage, PercentageError> {
        let (int, frac) = match text.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (text, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || frac.is_some_and(|f| !digits(f)) {
            return Err(PercentageError::NotANumber);
        }
        let frac = frac.unwrap_or("");
        let significant = frac.trim_end_matches('0');
        if significant.len() > 3 {
            return Err(PercentageError::TooPrecise);
        }
        let int = int.trim_start_matches('0');
        if int.len() > 3 {
            return Err(PercentageError::OutOfRange);
        }
        let mut value: u32 = 0;
        for b in int.bytes() {
            value = value * 10 + u32::from(b - b'0');
        }
        let mut thousandths = value * 1000;
        let mut scale = 100;
        for b in significant.bytes() {
            thousandths += u32::from(b - b'0') * scale;
            scale /= 10;
        }
        Percentage::from_thousandths(thousandths).ok_or(PercentageError::OutOfRange)
    }

    /// How many of the 100 000 buckets `bucket < pct * 1000` opens, computed with Ruby's
    /// floating-point arithmetic once so evaluation compares integers.
    pub(crate) fn open_buckets(self) -> u32 {
        let limit = self.as_f64() * 1000.0;
        // `bucket < limit` holds for exactly ceil(limit) non-negative integers.
        let whole = limit as u32;
        let open = if (whole as f64) < limit { whole + 1 } else { whole };
        open.min(BUCKETS)
    }

    /// Flipper's percentage-of-time cutoff: `rand < pct / 100.0`.
    pub(crate) fn time_cutoff(self) -> f64 {
        self.as_f64() / 100.0
    }
}

impl fmt::Display for Percentage {
    /// The shortest decimal text: `25`, `2.5`, `2.007`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (int, frac) = (self.0 / 1000, self.0 % 1000);
        if frac == 0 {
            return write!(f, "{int}");
        }
        let (mut digits, mut width) = (frac, 3);
        while digits % 10 == 0 {
            digits /= 10;
            width -= 1;
        }
        write!(f, "{int}.{digits:0width$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn parses_what_chatops_accepts() {
        for (text, thousandths) in [
            ("0", 0),
            ("100", 100_000),
            ("100.000", 100_000),
            ("25", 25_000),
            ("2.007", 2_007),
            ("33.333", 33_333),
            ("0.001", 1),
            ("99.999", 99_999),
            ("007", 7_000),
            ("2.50", 2_500),
        ] {
            assert_eq!(Percentage::parse(text), Ok(Percentage(thousandths)), "{text}");
        }
    }

    #[test]
    fn refuses_the_rest() {
        use PercentageError::*;
        for (text, err) in [
            ("101", OutOfRange),
            ("100.001", OutOfRange),
            ("1000", OutOfRange),
            ("-1", NotANumber),
            ("1e3", NotANumber),
            ("abc", NotANumber),
            ("", NotANumber),
            (".5", NotANumber),
            ("5.", NotANumber),
            ("+5", NotANumber),
            (" 5", NotANumber),
            ("2.0071", TooPrecise),
            ("٣", NotANumber),
        ] {
            assert_eq!(Percentage::parse(text), Err(err), "{text}");
        }
    }

    #[test]
    fn displays_shortest() {
        for text in ["0", "25", "2.5", "2.007", "0.001", "100", "33.333"] {
            assert_eq!(Percentage::parse(text).unwrap().to_string(), text);
        }
    }

    /// Every representable percentage opens exactly the buckets Ruby's float comparison opens.
    #[test]
    fn open_buckets_match_float_comparison_everywhere() {
        let mut above = 0;
        for m in 0..=100_000 {
            let p = Percentage(m);
            let limit = p.as_f64() * 1000.0;
            let open = p.open_buckets();
            if open > 0 {
                assert!(((open - 1) as f64) < limit, "{m}");
            }
            if open < BUCKETS {
                assert!((open as f64) >= limit, "{m}");
            }
            if open != m {
                above += 1;
                assert_eq!(open, m + 1, "{m}");
            }
        }
        // The reference counts 731 three-decimal values whose product lands above the integer.
        assert_eq!(above, 731);
        assert_eq!(Percentage(2_007).open_buckets(), 2_008);
    }
}
