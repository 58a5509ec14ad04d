//! postcard's wire primitives, read strictly and written canonically.
//!
//! The snapshot body follows postcard's wire format (varint-LEB128 integers, zigzag for signed
//! ones, length-prefixed strings and sequences, varint enum discriminants, `0`/`1` options and
//! booleans). We read and write it by hand instead of through serde because decoding must be
//! total and bounded: a sequence length is checked against the bytes that remain before
//! anything is allocated, overlong varints are refused so each state has exactly one
//! encoding, and the whole codec stays small in WebAssembly. `tests/postcard_conformance.rs`
//! checks these bytes against the postcard crate itself.

use crate::error::{DecodeError, DecodeErrorKind as K};
#[cfg(feature = "encode")]
use alloc::vec::Vec;

/// A byte range in the snapshot buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: u32,
    pub len: u32,
}

impl Span {
    pub fn get<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        &bytes[self.start as usize..(self.start + self.len) as usize]
    }
    /// Safe because spans are only made over bytes already checked as UTF-8.
    pub fn str<'a>(&self, bytes: &'a [u8]) -> &'a str {
        core::str::from_utf8(self.get(bytes)).unwrap_or_default()
    }
}

pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8], pos: usize) -> Self {
        Reader { bytes, pos }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub fn err(&self, kind: K) -> DecodeError {
        DecodeError::new(kind, self.pos)
    }

    pub fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.bytes.get(self.pos).ok_or_else(|| self.err(K::UnexpectedEnd))?;
        self.pos += 1;
        Ok(b)
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.err(K::UnexpectedEnd));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub fn varint(&mut self) -> Result<u64, DecodeError> {
        let start = self.pos;
        let mut value: u64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if i == 9 && b > 1 {
                return Err(DecodeError::new(K::BadVarint, start));
            }
            value |= bits << (7 * i);
            if b & 0x80 == 0 {
                // A final zero byte after the first means a longer encoding than needed.
                if i > 0 && b == 0 {
                    return Err(DecodeError::new(K::BadVarint, start));
                }
                return Ok(value);
            }
        }
        Err(DecodeError::new(K::BadVarint, start))
    }

    pub fn varint_u32(&mut self) -> Result<u32, DecodeError> {
        let start = self.pos;
        let v = self.varint()?;
        u32::try_from(v).map_err(|_| DecodeError::new(K::BadVarint, start))
    }

    pub fn zigzag(&mut self) -> Result<i64, DecodeError> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::new(K::BadBool, self.pos - 1)),
        }
    }

    pub fn f64(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// A sequence length, refused when fewer than `min_size` bytes per element remain, so a
    /// forged length can never make us reserve more than the input can fill.
    pub fn len(&mut self, min_size: usize) -> Result<usize, DecodeError> {
        let start = self.pos;
        let n = self.varint()?;
        match usize::try_from(n) {
            Ok(n) if n.saturating_mul(min_size.max(1)) <= self.remaining() => Ok(n),
            _ => Err(DecodeError::new(K::UnexpectedEnd, start)),
        }
    }

    pub fn bytes_span(&mut self) -> Result<Span, DecodeError> {
        let n = self.len(1)?;
        let start = self.pos as u32;
        self.pos += n;
        Ok(Span { start, len: n as u32 })
    }

    pub fn str_span(&mut self) -> Result<Span, DecodeError> {
        let at = self.pos;
        let span = self.bytes_span()?;
        core::str::from_utf8(span.get(self.bytes)).map_err(|_| DecodeError::new(K::BadUtf8, at))?;
        Ok(span)
    }
}

#[cfg(feature = "encode")]
pub(crate) struct Writer {
    pub out: Vec<u8>,
}

#[cfg(feature = "encode")]
impl Writer {
    pub fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }
    pub fn zigzag(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }
    pub fn byte(&mut self, b: u8) {
        self.out.push(b);
    }
    pub fn bool(&mut self, b: bool) {
        self.out.push(b as u8);
    }
    pub fn f64(&mut self, v: f64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.varint(b.len() as u64);
        self.out.extend_from_slice(b);
    }
    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
}

/// Golomb-Rice codes for sorted actor keys, the bulk of a snapshot.
///
/// Allow-lists hold a few numeric ids per flag (`User:4711`); as gaps between sorted keys they
/// are close to geometrically distributed, for which a Rice code with the right parameter is
/// within a few percent of the entropy. Each run of keys stores its parameter `k`; the codes
/// of all runs share one bit stream, so the snapshot's random bits sit together and the rest
/// of the body stays regular enough for gzip to squeeze.
pub(crate) mod rice {
    use super::*;

    pub struct BitReader<'a> {
        bytes: &'a [u8],
        offset: usize,
        bit: usize,
    }

    impl<'a> BitReader<'a> {
        /// `offset` is where `bytes` starts in the snapshot, for error positions.
        pub fn new(bytes: &'a [u8], offset: usize) -> Self {
            BitReader { bytes, offset, bit: 0 }
        }

        fn err(&self) -> DecodeError {
            DecodeError::new(K::BadActorKeys, self.offset + self.bit / 8)
        }

        /// Up to 64 bits from the current position, least significant first, and how many of
        /// them are real (bits past the end read as zero).
        #[inline]
        fn window(&self) -> (u64, usize) {
            let byte = self.bit / 8;
            let shift = self.bit % 8;
            // Away from the end, one unaligned load; a variable-length copy there was a call
            // into memcpy for every read, a tenth of a whole decode.
            if let Some(word) = self.bytes.get(byte..byte + 8) {
                let word: [u8; 8] = word.try_into().unwrap_or_default();
                return (u64::from_le_bytes(word) >> shift, 64 - shift);
            }
            let n = self.bytes.len().saturating_sub(byte).min(8);
            let mut buf = [0u8; 8];
            buf[..n].copy_from_slice(&self.bytes[byte..byte + n]);
            (u64::from_le_bytes(buf) >> shift, (n * 8).saturating_sub(shift))
        }

        /// One value coded with parameter `k` (at most 63): the quotient in unary, then `k` low
        /// bits.
        pub fn read(&mut self, k: u8) -> Result<u64, DecodeError> {
            let mut q: u64 = 0;
            loop {
                let (w, avail) = self.window();
                if avail == 0 {
                    return Err(self.err());
                }
                let ones = (w.trailing_ones() as usize).min(avail);
                q += ones as u64;
                self.bit += ones;
                if ones < avail {
                    break;
                }
            }
            self.bit += 1; // the terminating zero
            let k = usize::from(k);
            if k > 0 && q >> (64 - k) != 0 {
                return Err(self.err());
            }
            let mut low: u64 = 0;
            let mut got = 0;
            while got < k {
                let (w, avail) = self.window();
                let take = (k - got).min(avail).min(56);
                if take == 0 {
                    return Err(self.err());
                }
                low |= (w & ((1u64 << take) - 1)) << got;
                got += take;
                self.bit += take;
            }
            Ok((q << k) | low)
        }

        /// Every bit consumed, up to zero padding in the last byte.
        pub fn finish(&self) -> Result<(), DecodeError> {
            let used = self.bit.div_ceil(8);
            if used != self.bytes.len() {
                return Err(self.err());
            }
            if !self.bit.is_multiple_of(8) && self.bytes[used - 1] >> (self.bit % 8) != 0 {
                return Err(self.err());
            }
            Ok(())
        }
    }

    #[cfg(feature = "encode")]
    pub struct BitWriter {
        pub out: Vec<u8>,
        bit: usize,
    }

    #[cfg(feature = "encode")]
    impl BitWriter {
        pub fn new() -> Self {
            BitWriter { out: Vec::new(), bit: 0 }
        }
        fn push_bit(&mut self, b: bool) {
            if self.bit.is_multiple_of(8) {
                self.out.push(0);
            }
            if b {
                *self.out.last_mut().expect("pushed above") |= 1 << (self.bit % 8);
            }
            self.bit += 1;
        }
        pub fn write(&mut self, v: u64, k: u8) {
            let q = v >> k;
            for _ in 0..q {
                self.push_bit(true);
            }
            self.push_bit(false);
            for i in 0..k {
                self.push_bit((v >> i) & 1 == 1);
            }
        }
    }

    /// One value's step of [`cost`].
    #[inline]
    fn add_cost(sum: u64, v: u64, k: u8) -> u64 {
        sum.saturating_add(v >> k).saturating_add(1 + u64::from(k))
    }

    /// Bits needed to code `values` with parameter `k`, saturating: a real stream's cost is
    /// bounded by its length, and a saturated neighbour still compares as larger.
    #[cfg(any(feature = "encode", test))]
    pub fn cost(values: impl Iterator<Item = u64>, k: u8) -> u64 {
        values.fold(0u64, |sum, v| add_cost(sum, v, k))
    }

    /// The parameter that codes `values` in the fewest bits (the smallest one on ties).
    #[cfg(feature = "encode")]
    pub fn best_k(values: &[u64]) -> u8 {
        (0u8..=63).min_by_key(|&k| cost(values.iter().copied(), k)).unwrap_or(0)
    }

    /// Whether `k` is the parameter [`best_k`] would choose, told from the values one at a
    /// time as they are read. The cost is convex in `k` (each `v >> k` loses less with every
    /// step, and the `k` term grows linearly), so comparing with the neighbours decides it
    /// without trying all 64.
    pub struct BestK {
        k: u8,
        below: u64,
        here: u64,
        above: u64,
    }

    impl BestK {
        pub fn new(k: u8) -> Self {
            BestK { k, below: 0, here: 0, above: 0 }
        }

        #[inline]
        pub fn add(&mut self, v: u64) {
            let k = self.k;
            if k > 0 {
                self.below = add_cost(self.below, v, k - 1);
            }
            self.here = add_cost(self.here, v, k);
            if k < 63 {
                self.above = add_cost(self.above, v, k + 1);
            }
        }

        pub fn holds(&self) -> bool {
            (self.k == 0 || self.below > self.here) && (self.k == 63 || self.above >= self.here)
        }
    }
}

#[cfg(all(test, feature = "encode"))]
mod tests {
    use super::rice::{best_k, cost, BestK};
    use proptest::prelude::*;

    proptest! {
        // The decoder's one-pass check agrees with the encoder's choice, for every k a
        // stream could be coded with (its cost, in bits, fits in a snapshot; beyond that the
        // costs saturate, and no such stream can be read anyway): a snapshot is accepted
        // exactly when its parameter is the one the encoder writes.
        #[test]
        fn best_k_is_what_the_encoder_chooses(values in prop::collection::vec(prop_oneof![0u64..4, 0u64..5000, any::<u64>()], 0..40)) {
            let chosen = best_k(&values);
            let readable = |k: u8| cost(values.iter().copied(), k) <= 8 * crate::limits::MAX_SNAPSHOT_BYTES as u64;
            for k in (0..=63u8).filter(|&k| readable(k)) {
                let mut best = BestK::new(k);
                values.iter().for_each(|&v| best.add(v));
                prop_assert_eq!(best.holds(), k == chosen, "k {} chosen {} cost {}", k, chosen, cost(values.iter().copied(), k));
            }
        }
    }
}
