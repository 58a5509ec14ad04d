//! The flag-name lookup table: open addressing over the flags, probed by 32-bit tags so a
//! miss never touches a flag's entry, with each name's place in the snapshot bytes riding
//! along so that confirming a hit does not wait for the entry to load.

use crate::wire::Span;
use alloc::vec::Vec;

const EMPTY: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Slot {
    tag: u32,
    flag: u32,
    name: Span,
}

const EMPTY_SLOT: Slot = Slot { tag: 0, flag: EMPTY, name: Span { start: 0, len: 0 } };

/// Flag names to flag indexes.
pub(crate) struct NameIndex {
    slots: Vec<Slot>,
    /// `64 - log2(slots.len())`: slots come from the hash's top bits.
    shift: u32,
}

impl Default for NameIndex {
    fn default() -> Self {
        NameIndex { slots: alloc::vec![EMPTY_SLOT; 2], shift: 63 }
    }
}

impl NameIndex {
    /// The index over `names` (flag `i` is `names[i]`, a span of `bytes`).
    pub fn build(bytes: &[u8], names: impl ExactSizeIterator<Item = Span>) -> NameIndex {
        let cap = (names.len() * 2).next_power_of_two().max(2);
        let mut slots = alloc::vec![EMPTY_SLOT; cap];
        let mask = cap - 1;
        let shift = 64 - cap.trailing_zeros();
        for (i, name) in names.enumerate() {
            let hash = name_hash(name.get(bytes));
            let mut slot = (hash >> shift) as usize;
            while slots[slot].flag != EMPTY {
                slot = (slot + 1) & mask;
            }
            slots[slot] = Slot { tag: hash as u32, flag: i as u32, name };
        }
        NameIndex { slots, shift }
    }

    /// The index of the flag called `name`, whose names are spans of `bytes`.
    #[inline]
    pub fn find(&self, bytes: &[u8], name: &str) -> Option<u32> {
        let hash = name_hash(name.as_bytes());
        let tag = hash as u32;
        let mask = self.slots.len() - 1;
        let mut slot = (hash >> self.shift) as usize;
        loop {
            let s = self.slots[slot];
            if s.flag == EMPTY {
                return None;
            }
            if s.tag == tag && bytes_eq(s.name.get(bytes), name.as_bytes()) {
                return Some(s.flag);
            }
            slot = (slot + 1) & mask;
        }
    }
}

/// The lookup hash of a flag name: FxHash's word-at-a-time multiply, cheap for the short
/// names flags have. Slots take its top bits, which depend on every input bit.
#[inline]
fn name_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        h = (h.rotate_left(5) ^ u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = 0u64;
        for (i, &b) in rest.iter().enumerate() {
            word |= u64::from(b) << (8 * i);
        }
        h = (h.rotate_left(5) ^ word).wrapping_mul(K);
    }
    h
}

/// Byte equality without a call into `memcmp`, which costs more than it saves on the short
/// names flags have.
#[inline]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut ac, mut bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let word = |c: &[u8]| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
    for (x, y) in (&mut ac).zip(&mut bc) {
        if word(x) != word(y) {
            return false;
        }
    }
    ac.remainder().iter().zip(bc.remainder()).all(|(x, y)| x == y)
}
