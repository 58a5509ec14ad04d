//! Allow-lists and opt-outs as a decoded snapshot holds them, and membership in them.
//!
//! Ids of the form `Kind:<number>` (GitLab's `User:42`, `Project:7`) are kept as sorted runs
//! of numbers per kind, Rice-coded in the bytes and expanded at decode; other ids are kept as
//! sorted texts. In browser snapshots every id is a salted 64-bit hash instead.

use super::index::bytes_eq;
use super::{FlagEntry, Range32, Snapshot};
use crate::actor::Actor;
use crate::model::{ActorSet, Audience};
use alloc::collections::BTreeSet;
use alloc::string::String;
use core::cell::Cell;

/// An actor set: its numeric runs (or, in browser snapshots, its hashes) in `keys`, and its
/// other ids in `texts`. A run is laid out in `keys` as a header `kind << 32 | count` followed
/// by its `count` sorted keys, so a lookup touches one contiguous stretch of memory.
///
/// `filter` has two bits set per key (`filter_bits`), of any kind: most lookups are of actors
/// a short allow-list does not hold, and a clear bit says so before the runs are searched.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ActorSetRef {
    pub keys: Range32,
    pub texts: Range32,
    pub filter: u64,
}

impl ActorSetRef {
    pub fn is_empty(&self) -> bool {
        self.keys.len == 0 && self.texts.len == 0
    }

    /// The filter of `keys`: the set's run headers and keys, or in browser snapshots its
    /// hashes.
    #[inline(never)]
    pub fn filter_of(keys: &[u64], browser: bool) -> u64 {
        let mut filter = 0;
        let mut rest = keys;
        while let Some((&first, tail)) = rest.split_first() {
            // A browser set is all keys; a run is a header and `count` keys.
            let (run, after) = if browser {
                (keys, &[][..])
            } else {
                let count = ((first & 0xffff_ffff) as usize).min(tail.len());
                tail.split_at(count)
            };
            for &key in run {
                filter |= filter_bits(key);
            }
            rest = after;
        }
        filter
    }
}

/// The two filter bits of a key: from a multiplicative hash, so that the keys of consecutive
/// users (or a stride of them) spread over the word.
#[inline]
fn filter_bits(key: u64) -> u64 {
    let h = key.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (1u64 << (h >> 58)) | (1u64 << ((h >> 52) & 63))
}

/// The runs of an actor set: `(kind, keys)`.
fn runs(keys: &[u64]) -> impl Iterator<Item = (u32, &[u64])> {
    let mut rest = keys;
    core::iter::from_fn(move || {
        let (&header, tail) = rest.split_first()?;
        let count = (header & 0xffff_ffff) as usize;
        let (run, tail) = tail.split_at(count.min(tail.len()));
        rest = tail;
        Some(((header >> 32) as u32, run))
    })
}

/// Membership in a sorted run of keys.
#[inline]
fn contains_key(keys: &[u64], key: u64) -> bool {
    // Branch-free binary search: the halving steps compile to conditional moves, so a short
    // allow-list costs a few compares and no mispredictions.
    let mut base = 0usize;
    let mut len = keys.len();
    if len == 0 {
        return false;
    }
    while len > 1 {
        let half = len / 2;
        base = if keys[base + half] <= key { base + half } else { base };
        len -= half;
    }
    keys[base] == key
}

/// Where an id's colon is (its length if it has none), and the first eight bytes of the kind
/// before it as a little-endian word. Kinds are short (`User`, `Project`), so for most ids one
/// load and a zero-byte test find the colon.
#[inline]
fn kind_of(bytes: &[u8]) -> (usize, u64) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    if let Some(first) = bytes.first_chunk::<8>() {
        let w = u64::from_le_bytes(*first);
        let x = w ^ (ONES * u64::from(b':'));
        // The lowest byte flagged here is the first zero byte of `x`: the first colon.
        let zero = x.wrapping_sub(ONES) & !x & (ONES << 7);
        if zero != 0 {
            let colon = (zero.trailing_zeros() / 8) as usize;
            return (colon, w & ((1u64 << (8 * colon)) - 1));
        }
    }
    let mut colon = 0;
    let mut word = 0u64;
    while colon < bytes.len() && bytes[colon] != b':' {
        if colon < 8 {
            word |= u64::from(bytes[colon]) << (8 * colon);
        }
        colon += 1;
    }
    (colon, word)
}

/// A `Kind:<number>` id as the runs hold it: the number, the kind, and the kind's first
/// eight bytes as a word. None for every other id, which is kept as text.
#[inline(always)]
fn numeric_id(id: &str) -> Option<(u64, &[u8], u64)> {
    let bytes = id.as_bytes();
    let (colon, word) = kind_of(bytes);
    if colon == 0 || colon >= bytes.len() {
        return None;
    }
    Some((crate::actor::canonical_u64(&bytes[colon + 1..])?, &bytes[..colon], word))
}

/// SipHash-2-4 of an actor id under a browser snapshot's salt.
pub(crate) fn actor_hash(salt: &[u8; 16], id: &str) -> u64 {
    use core::hash::Hasher;
    let mut h = siphasher::sip::SipHasher24::new_with_key(salt);
    h.write(id.as_bytes());
    h.finish()
}

/// What an actor's id is to this snapshot's actor-set filters, kept for an evaluation of
/// many flags for one context ([`Snapshot::evaluate_many`]): the filter bits of its number
/// (or, in a browser snapshot, its hash and their bits), recorded by the first test for the
/// actor so that later ones skip parsing (or hashing) the id. Most tests end at the filter;
/// the few numeric ones that pass it parse the id again. One flag's evaluation keeps none.
#[derive(Default)]
pub(crate) struct KeptProbe {
    form: Cell<u8>,
    hash: Cell<u64>,
    bits: Cell<u64>,
}

const UNMADE: u8 = 0;
const NUMERIC: u8 = 1;
const HASHED: u8 = 2;

/// The probes kept for a context's first four actors (contexts rarely hold more).
pub(crate) type Kept = [KeptProbe; 4];

impl Snapshot {
    /// Whether `id` is in an actor set of this snapshot. `kept`, the actor's probe when the
    /// caller keeps one, is read before the id and recorded after it.
    #[inline(never)]
    pub(crate) fn contains(&self, set: &ActorSetRef, id: &str, kept: Option<&KeptProbe>) -> bool {
        if set.is_empty() {
            return false;
        }
        let made = kept.map_or(UNMADE, |p| p.form.get());
        if made != UNMADE {
            let bits = kept.map_or(0, |p| p.bits.get());
            // A clear bit: no key of the set has this number or hash. A numeric id is never
            // in the texts (the decoder refuses that encoding), so a miss here is final.
            if set.filter & bits != bits {
                return false;
            }
        }
        let record = |form: u8, hash: u64, bits: u64| {
            if let Some(p) = kept {
                p.form.set(form);
                p.hash.set(hash);
                p.bits.set(bits);
            }
        };
        if let Audience::Browser { salt } = &self.audience {
            let hash = match kept {
                Some(p) if made == HASHED => p.hash.get(),
                _ => actor_hash(salt, id),
            };
            let bits = filter_bits(hash);
            record(HASHED, hash, bits);
            return set.filter & bits == bits && contains_key(set.keys.of(&self.keys), hash);
        }
        if !cfg!(feature = "full-snapshots") {
            return false;
        }
        let Some((key, kind, word)) = numeric_id(id) else {
            return set.texts.of(&self.texts).binary_search_by(|t| t.get(&self.bytes).cmp(id.as_bytes())).is_ok();
        };
        let bits = filter_bits(key);
        record(NUMERIC, 0, bits);
        if set.filter & bits != bits {
            return false;
        }
        let Some(kind) = self.kind_index_of(word, kind) else { return false };
        let mut keys = set.keys.of(&self.keys);
        // Walk the set's runs: a header `kind << 32 | count`, then the keys.
        while let Some((&header, rest)) = keys.split_first() {
            let count = ((header & 0xffff_ffff) as usize).min(rest.len());
            if (header >> 32) as usize == kind {
                return contains_key(&rest[..count], key);
            }
            keys = &rest[count..];
        }
        false
    }

    fn kind_index_of(&self, word: u64, kind: &[u8]) -> Option<usize> {
        for (i, &w) in self.kind_words.iter().enumerate() {
            if w == word {
                let span = self.kinds[i];
                if span.len as usize == kind.len() && (kind.len() <= 8 || bytes_eq(span.get(&self.bytes), kind)) {
                    return Some(i);
                }
            }
        }
        None
    }

    /// Whether an actor of the context passes flag `f`'s actor gate. GitLab keeps opt-outs as
    /// `<id>:opt_out` entries of the actor gate, so an actor whose id is literally
    /// `X:opt_out` passes the actor gate when `X` is opted out.
    pub(crate) fn actor_gate_opens(&self, f: &FlagEntry, actors: &[Actor<'_>], kept: Option<&Kept>) -> bool {
        actors.iter().enumerate().any(|(i, a)| {
            self.contains(&f.actors, a.id, kept.and_then(|k| k.get(i)))
                || (!f.opt_outs.is_empty()
                    && a.id.strip_suffix(":opt_out").is_some_and(|inner| self.contains(&f.opt_outs, inner, None)))
        })
    }

    /// Whether an actor of the context is opted out of flag `f`.
    pub(crate) fn opted_out(&self, f: &FlagEntry, actors: &[Actor<'_>], kept: Option<&Kept>) -> bool {
        !f.opt_outs.is_empty()
            && actors.iter().enumerate().any(|(i, a)| self.contains(&f.opt_outs, a.id, kept.and_then(|k| k.get(i))))
    }

    /// The owned form of an actor set.
    pub(crate) fn actor_set(&self, set: &ActorSetRef) -> ActorSet {
        if let Audience::Browser { .. } = self.audience {
            return ActorSet::Hashed(set.keys.of(&self.keys).iter().copied().collect());
        }
        if !cfg!(feature = "full-snapshots") {
            return ActorSet::Ids(BTreeSet::new());
        }
        let mut ids: BTreeSet<String> =
            set.texts.of(&self.texts).iter().map(|t| String::from(t.str(&self.bytes))).collect();
        for (kind, keys) in runs(set.keys.of(&self.keys)) {
            let kind = self.kinds[kind as usize].str(&self.bytes);
            for key in keys {
                ids.insert(alloc::format!("{kind}:{key}"));
            }
        }
        ActorSet::Ids(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::kind_of;
    use proptest::prelude::*;

    /// The byte-at-a-time definition `kind_of` must agree with.
    fn kind_by_bytes(bytes: &[u8]) -> (usize, u64) {
        let colon = bytes.iter().position(|&b| b == b':').unwrap_or(bytes.len());
        let word = bytes[..colon].iter().take(8).enumerate().fold(0u64, |w, (i, &b)| w | u64::from(b) << (8 * i));
        (colon, word)
    }

    proptest! {
        #[test]
        fn kind_of_finds_the_first_colon(id in "[:a-zA-Z0-9\u{80}-\u{10ffff}]{0,24}") {
            prop_assert_eq!(kind_of(id.as_bytes()), kind_by_bytes(id.as_bytes()));
        }
    }

    #[test]
    fn kind_of_at_every_colon_position() {
        for id in [
            "User:1",
            "User:151",
            "Project:12345",
            ":1",
            "abcdefgh:1",
            "abcdefg:",
            "abcdefghi:2",
            "none",
            "",
            "User:1:opt_out",
            "\u{3a}\u{a3a}:",
        ] {
            assert_eq!(kind_of(id.as_bytes()), kind_by_bytes(id.as_bytes()), "{id}");
        }
    }
}
