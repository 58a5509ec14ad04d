//! The few pieces of Ruby's core library that Flipper's expressions lean on, reproduced
//! exactly where a flag's result can depend on them: `Float#to_s`, `String#to_f`/`to_i`,
//! `Time#to_s`, exact Integer/Float comparison, and the subset of `Time.parse` vexil accepts.
//!
//! Everything writes into caller-provided sinks or returns plain values, so evaluation never
//! allocates.

use crate::time::{days_from_civil, Timestamp};
use core::cmp::Ordering;
use core::fmt::{self, Write};

/// Decimal text of floats, for Ruby's `Float#to_s` and `String#to_f`. Both need exact
/// algorithms (shortest round-trip digits, correctly rounded parsing) whose tables cost tens
/// of kilobytes in WebAssembly; the browser build borrows the JavaScript engine's, which
/// are exact in the same way, and native builds use core's (feature `float-text`).
pub trait FloatText {
    /// The shortest decimal digits that read back as `f` (finite, positive), written to
    /// `digits`; returns how many, and the decimal exponent of the first digit
    /// (`1234.5` is `12345` and 3).
    fn shortest(&self, f: f64, digits: &mut [u8; 17]) -> (usize, i32);
    /// The f64 nearest to `text`, written `[-]digits[.digits][e[-]digits]`.
    fn parse(&self, text: &str) -> f64;
}

/// core's float formatting and parsing.
#[cfg(feature = "float-text")]
#[derive(Clone, Copy, Debug, Default)]
pub struct CoreFloatText;

#[cfg(feature = "float-text")]
impl FloatText for CoreFloatText {
    fn shortest(&self, f: f64, digits: &mut [u8; 17]) -> (usize, i32) {
        // `{:e}` prints the shortest round-trip digits: `d[.ddd]e<exp>`.
        let mut sci = Buf::<40>::new();
        let _ = write!(sci, "{f:e}");
        digits_of_exponential(sci.as_str(), digits)
    }

    fn parse(&self, text: &str) -> f64 {
        text.parse().unwrap_or(0.0)
    }
}

/// Reads shortest round-trip digits in exponential notation, `d[.ddd]e[+|-]x` (Rust's `{:e}`,
/// JavaScript's `toExponential()`), into what [`FloatText::shortest`] returns: the digits
/// and the decimal exponent of the first.
pub fn digits_of_exponential(text: &str, digits: &mut [u8; 17]) -> (usize, i32) {
    let (mantissa, exp) = text.split_once('e').unwrap_or((text, "0"));
    let mut n = 0;
    for b in mantissa.bytes().filter(u8::is_ascii_digit) {
        if n < digits.len() {
            digits[n] = b;
            n += 1;
        }
    }
    let (negative, exp) = match exp.as_bytes().first() {
        Some(b'-') => (true, &exp[1..]),
        Some(b'+') => (false, &exp[1..]),
        _ => (false, exp),
    };
    let magnitude =
        exp.bytes().fold(0i32, |acc, b| acc.saturating_mul(10).saturating_add(i32::from(b.wrapping_sub(b'0') % 10)));
    (n, if negative { -magnitude } else { magnitude })
}

/// Writes `n` in decimal, zero-padded to `width`.
pub(crate) fn write_uint(out: &mut impl Write, mut n: u64, width: usize) -> fmt::Result {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let start = i.min(buf.len().saturating_sub(width));
    out.write_str(core::str::from_utf8(&buf[start..]).unwrap_or("0"))
}

/// Writes `n` as Ruby's `Integer#to_s`.
pub(crate) fn write_int(out: &mut impl Write, n: i64) -> fmt::Result {
    if n < 0 {
        out.write_char('-')?;
    }
    write_uint(out, n.unsigned_abs(), 1)
}

/// Ruby's `Float#to_s`: shortest round-trip digits; fixed notation for decimal exponents
/// from -4 to 15, scientific (`1.0e+16`, `1.0e-05`) outside.
pub(crate) fn write_float(out: &mut impl Write, f: f64, text: &dyn FloatText) -> fmt::Result {
    if f.is_nan() {
        return out.write_str("NaN");
    }
    if f.is_infinite() {
        return out.write_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
    }
    if f == 0.0 {
        return out.write_str(if f.is_sign_negative() { "-0.0" } else { "0.0" });
    }
    let mut raw = [0u8; 17];
    let (n, exp) = text.shortest(f.abs(), &mut raw);
    let digits = core::str::from_utf8(&raw[..n.clamp(1, 17)]).unwrap_or("0");
    let decpt = exp + 1; // digits before the decimal point
    if f < 0.0 {
        out.write_char('-')?;
    }
    if (-3..=15).contains(&decpt) {
        if decpt <= 0 {
            out.write_str("0.")?;
            for _ in 0..-decpt {
                out.write_char('0')?;
            }
            out.write_str(digits)
        } else {
            let point = decpt as usize;
            if digits.len() <= point {
                out.write_str(digits)?;
                for _ in digits.len()..point {
                    out.write_char('0')?;
                }
                out.write_str(".0")
            } else {
                out.write_str(&digits[..point])?;
                out.write_char('.')?;
                out.write_str(&digits[point..])
            }
        }
    } else {
        out.write_str(&digits[..1])?;
        out.write_char('.')?;
        out.write_str(if digits.len() > 1 { &digits[1..] } else { "0" })?;
        out.write_str("e")?;
        out.write_char(if exp < 0 { '-' } else { '+' })?;
        write_uint(out, u64::from(exp.unsigned_abs()), 2)
    }
}

/// Ruby's `Time#to_s` for a UTC time: `2024-01-02 03:04:05 UTC`.
pub(crate) fn write_time(out: &mut impl Write, unix_nanos: i64) -> fmt::Result {
    let t = Timestamp::from_unix_nanos(unix_nanos).to_utc();
    write_int(out, t.year)?;
    for (sep, v) in [('-', t.month), ('-', t.day), (' ', t.hour), (':', t.minute), (':', t.second)] {
        out.write_char(sep)?;
        write_uint(out, u64::from(v), 2)?;
    }
    out.write_str(" UTC")
}

/// The part of `text` Ruby's numeric parsers read: leading whitespace skipped, then a sign,
/// then digits where single underscores may separate digits.
struct Scan<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scan<'a> {
    fn new(text: &'a str) -> Self {
        let bytes = text.as_bytes();
        let pos = bytes.iter().take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')).count();
        Scan { bytes, pos }
    }
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }
    fn sign(&mut self) -> bool {
        match self.peek() {
            Some(b'-') => {
                self.pos += 1;
                true
            }
            Some(b'+') => {
                self.pos += 1;
                false
            }
            _ => false,
        }
    }
    /// Digits with single underscores between them, pushed to `out`; how many digits.
    fn digits(&mut self, out: &mut impl Write) -> usize {
        let mut n = 0;
        while let Some(b) = self.peek() {
            if b.is_ascii_digit() {
                let _ = out.write_char(b as char);
                n += 1;
                self.pos += 1;
            } else if b == b'_' && n > 0 && self.bytes.get(self.pos + 1).is_some_and(u8::is_ascii_digit) {
                self.pos += 1;
            } else {
                break;
            }
        }
        n
    }
}

/// Ruby's `String#to_i`; `None` where Ruby would produce a Bignum.
pub(crate) fn string_to_i(text: &str) -> Option<i64> {
    let mut scan = Scan::new(text);
    let negative = scan.sign();
    let mut digits = Buf::<64>::new();
    scan.digits(&mut digits);
    let mut value: i64 = 0;
    for b in digits.as_str().bytes() {
        let d = i64::from(b - b'0');
        value = value.checked_mul(10)?;
        value = if negative { value.checked_sub(d)? } else { value.checked_add(d)? };
    }
    Some(value)
}

/// Ruby's `String#to_f`: the longest prefix that reads as a float, else 0.0.
pub(crate) fn string_to_f(text: &str, float: &dyn FloatText) -> f64 {
    let mut scan = Scan::new(text);
    let mut num = Buf::<400>::new();
    if scan.sign() {
        let _ = num.write_char('-');
    }
    let int_digits = scan.digits(&mut num);
    let mut any = int_digits > 0;
    if scan.peek() == Some(b'.') && scan.bytes.get(scan.pos + 1).is_some_and(u8::is_ascii_digit) {
        scan.pos += 1;
        let _ = num.write_str(if int_digits == 0 { "0." } else { "." });
        scan.digits(&mut num);
        any = true;
    }
    if !any {
        return 0.0;
    }
    if matches!(scan.peek(), Some(b'e' | b'E')) {
        // An exponent without digits is not part of the number.
        let mark = num.len;
        scan.pos += 1;
        let _ = num.write_char('e');
        if scan.sign() {
            let _ = num.write_char('-');
        }
        if scan.digits(&mut num) == 0 {
            num.len = mark;
        }
    }
    if num.overflowed {
        // Hundreds of digits: only the magnitude matters, and it is beyond any flag's use.
        return 0.0;
    }
    float.parse(num.as_str())
}

/// `Integer <=> Float` exactly, as Ruby compares them (no rounding of the integer).
pub(crate) fn cmp_int_float(i: i64, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    if f >= 9_223_372_036_854_775_808.0 {
        return Some(Ordering::Less);
    }
    if f < -9_223_372_036_854_775_808.0 {
        return Some(Ordering::Greater);
    }
    let whole = f as i64; // truncates toward zero; exact for |f| < 2^63
    match i.cmp(&whole) {
        Ordering::Equal => {
            let frac = f - whole as f64;
            Some(if frac > 0.0 {
                Ordering::Less
            } else if frac < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            })
        }
        other => Some(other),
    }
}

/// Seconds (an Integer or Float, as `Time.at` takes) to nanoseconds; `None` when out of range
/// or not finite.
pub(crate) fn seconds_to_nanos_int(secs: i64) -> Option<i64> {
    secs.checked_mul(1_000_000_000)
}

pub(crate) fn seconds_to_nanos_float(secs: f64) -> Option<i64> {
    let nanos = secs * 1e9;
    if nanos.is_finite() && (-9.2e18..9.2e18).contains(&nanos) {
        // floor, so that Time.at(-0.5) is half a second before the epoch
        let t = nanos as i64;
        Some(if (t as f64) > nanos { t - 1 } else { t })
    } else {
        None
    }
}

/// The subset of `Time.parse` vexil reads: ISO 8601 / RFC 3339 dates and times
/// (`2024-01-02`, `2024-01-02T03:04:05Z`, `2024-01-02 03:04:05.5 +01:00`, `... UTC`), which is
/// what `Time#to_s`, `Time#iso8601` and JavaScript's `toISOString()` produce. A time without a
/// zone is UTC (Ruby would use the server's zone). Anything else is refused.
pub(crate) fn parse_time(text: &str) -> Option<i64> {
    let s = text.trim().as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let part = s.get(from..from + len)?;
        part.iter().try_fold(0u32, |acc, &b| b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0')))
    };
    if s.len() < 10 || s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(i64::from(year), month) {
        return None;
    }
    let mut pos = 10;
    let (mut h, mut mi, mut sec, mut nanos) = (0, 0, 0, 0i64);
    if pos < s.len()
        && (s[pos] == b'T' || s[pos] == b't' || s[pos] == b' ')
        && s.get(pos + 1).is_some_and(u8::is_ascii_digit)
    {
        pos += 1;
        h = num(pos, 2)?;
        if s.get(pos + 2) != Some(&b':') {
            return None;
        }
        mi = num(pos + 3, 2)?;
        pos += 5;
        if s.get(pos) == Some(&b':') {
            sec = num(pos + 1, 2)?;
            pos += 3;
            if s.get(pos) == Some(&b'.') || s.get(pos) == Some(&b',') {
                pos += 1;
                let mut scale = 100_000_000i64;
                let start = pos;
                while let Some(&b) = s.get(pos).filter(|b| b.is_ascii_digit()) {
                    nanos += i64::from(b - b'0') * scale;
                    scale /= 10;
                    pos += 1;
                }
                if pos == start {
                    return None;
                }
            }
        }
        if h > 23 || mi > 59 || sec > 60 {
            return None;
        }
    }
    while s.get(pos) == Some(&b' ') {
        pos += 1;
    }
    let offset_secs: i64 = match &s[pos..] {
        b"" | b"Z" | b"z" | b"UTC" | b"GMT" => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (oh, om) = match rest {
                [a, b, b':', c, d] | [a, b, c, d] => {
                    let two = |x: u8, y: u8| {
                        (x.is_ascii_digit() && y.is_ascii_digit()).then(|| i64::from((x - b'0') * 10 + (y - b'0')))
                    };
                    (two(*a, *b)?, two(*c, *d)?)
                }
                [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => (i64::from((a - b'0') * 10 + (b - b'0')), 0),
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if *sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec) - offset_secs;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A fixed-capacity text buffer; writes past the end are dropped and remembered.
#[derive(Clone, Copy)]
pub(crate) struct Buf<const N: usize> {
    bytes: [u8; N],
    len: usize,
    overflowed: bool,
}

impl<const N: usize> Buf<N> {
    pub const fn new() -> Self {
        Buf { bytes: [0; N], len: 0, overflowed: false }
    }
    pub fn as_str(&self) -> &str {
        // Only whole `str`s are ever appended, so the prefix is UTF-8.
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl<const N: usize> Write for Buf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.len + s.len() > N {
            self.overflowed = true;
            return Err(fmt::Error);
        }
        self.bytes[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
        self.len += s.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(f: f64) -> Buf<40> {
        let mut b = Buf::new();
        write_float(&mut b, f, &CoreFloatText).unwrap();
        b
    }

    // Expected strings printed by Ruby 3.1.
    #[test]
    fn float_to_s_matches_ruby() {
        for (f, s) in [
            (1e15, "1.0e+15"),
            (1e16, "1.0e+16"),
            (1e14, "100000000000000.0"),
            (1.5e14, "150000000000000.0"),
            (123456789012345.0, "123456789012345.0"),
            (1234567890123456.0, "1.234567890123456e+15"),
            (999999999999999.0, "999999999999999.0"),
            (0.0001, "0.0001"),
            (0.00001, "1.0e-05"),
            (0.000123, "0.000123"),
            (1.5e-7, "1.5e-07"),
            (-0.0, "-0.0"),
            (100.0, "100.0"),
            (2.5e300, "2.5e+300"),
            (0.1 + 0.2, "0.30000000000000004"),
            (9007199254740993.0, "9.007199254740992e+15"),
            (f64::INFINITY, "Infinity"),
            (-2.5, "-2.5"),
            (1.0, "1.0"),
        ] {
            assert_eq!(float(f).as_str(), s, "{f:e}");
        }
    }

    #[test]
    fn string_to_f_matches_ruby() {
        for (text, f) in [
            ("12abc", 12.0),
            (" 1_000.5", 1000.5),
            ("-.5", -0.5),
            (".5", 0.5),
            ("1e5", 100000.0),
            ("1.e3", 1.0),
            ("0x1A", 0.0),
            ("1.5e", 1.5),
            ("1.5e+", 1.5),
            ("1.5e+3x", 1500.0),
            ("1._5", 1.0),
            ("1_000_", 1000.0),
            ("_1", 0.0),
            ("1.5_5", 1.55),
            ("+-1", 0.0),
            ("\t1", 1.0),
            ("\x0b1", 1.0),
            ("1e-400", 0.0),
            ("0.1e1_0", 1e9),
            ("1e400", f64::INFINITY),
            ("", 0.0),
        ] {
            assert_eq!(string_to_f(text, &CoreFloatText), f, "{text:?}");
        }
    }

    #[test]
    fn string_to_i_matches_ruby() {
        for (text, i) in [
            ("12abc", Some(12)),
            ("1__0", Some(1)),
            ("  \n+3", Some(3)),
            ("1_", Some(1)),
            ("-0", Some(0)),
            ("1e5", Some(1)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
        ] {
            assert_eq!(string_to_i(text), i, "{text:?}");
        }
    }

    #[test]
    fn times() {
        let mut b = Buf::<40>::new();
        write_time(&mut b, 1_700_000_000_123_456_789).unwrap();
        assert_eq!(b.as_str(), "2023-11-14 22:13:20 UTC");
        let mut b = Buf::<40>::new();
        write_time(&mut b, -1_000_000_000).unwrap();
        assert_eq!(b.as_str(), "1969-12-31 23:59:59 UTC");
        assert_eq!(parse_time("2024-01-02"), Some(1_704_153_600_000_000_000));
        assert_eq!(parse_time("2024-01-02T03:04:05Z"), Some(1_704_164_645_000_000_000));
        assert_eq!(parse_time("2024-01-02 03:04:05 UTC"), Some(1_704_164_645_000_000_000));
        assert_eq!(
            parse_time("2024-01-02T03:04:05.5+01:30"),
            Some(1_704_164_645_000_000_000 - 5_400_000_000_000 + 500_000_000)
        );
        for bad in
            ["garbage", "", "2024", "1700000000", "2024-02-30", "2024-01-02T25:00:00Z", "2024-01-02T03:04:05 CEST"]
        {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn int_float_comparison_is_exact() {
        assert_eq!(cmp_int_float(9_007_199_254_740_993, 9_007_199_254_740_992.0), Some(Ordering::Greater));
        assert_eq!(cmp_int_float(1, 1.0), Some(Ordering::Equal));
        assert_eq!(cmp_int_float(1, 1.5), Some(Ordering::Less));
        assert_eq!(cmp_int_float(-1, -1.5), Some(Ordering::Greater));
        assert_eq!(cmp_int_float(i64::MAX, 9.3e18), Some(Ordering::Less));
        assert_eq!(cmp_int_float(0, f64::NAN), None);
    }
}
