//! Decoding: bytes to a [`Snapshot`], checking every table for exactly what the encoder
//! writes (order, references, ranges, the Rice parameter of each run), so that a snapshot has
//! one encoding, its hash can serve as an ETag, and evaluation can trust the index.

use super::actor_set::ActorSetRef;
use super::index::NameIndex;
use super::{
    FlagEntry, GroupEntry, Range32, Snapshot, BIT_CLIENT_SIDE, BIT_PERSISTED, FORMAT_VERSION, KNOWN_BITS, MAGIC,
    PUBLIC_KEY_LEN, SIGNATURE_LEN,
};
use crate::actor::{kind_word, ActorKey};
use crate::crc32::Crc32;
use crate::error::{DecodeError, DecodeErrorKind as K};
use crate::expr::Arena;
use crate::limits::{MAX_ACTOR_IDS, MAX_SNAPSHOT_BYTES};
use crate::model::{Audience, FlagType};
use crate::percentage::Percentage;
use crate::verify::SignedPart;
use crate::wire::rice::{BestK, BitReader};
use crate::wire::{Reader, Span};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cmp::Ordering;

/// The size limit, the magic and the format version: what is refused before anything else.
pub(super) fn check_header(bytes: &[u8]) -> Result<(), DecodeError> {
    if bytes.len() > MAX_SNAPSHOT_BYTES {
        return Err(DecodeError::new(K::TooLarge, MAX_SNAPSHOT_BYTES));
    }
    if bytes.len() < 4 || bytes[..4] != MAGIC {
        return Err(DecodeError::new(K::BadMagic, 0));
    }
    match bytes.get(4) {
        Some(&FORMAT_VERSION) => Ok(()),
        Some(&found) => Err(DecodeError::new(K::VersionMismatch { expected: FORMAT_VERSION, found }, 4)),
        None => Err(DecodeError::new(K::UnexpectedEnd, 4)),
    }
}

/// A run whose gaps are still to be read from the bit stream.
struct PendingRun {
    at: u32,
    count: u32,
    k: u8,
}

pub(super) struct Decoder<'a> {
    r: Reader<'a>,
    s: Snapshot,
    pending: Vec<PendingRun>,
    gaps: u64,
    /// Numeric and hashed ids so far, against [`MAX_ACTOR_IDS`].
    packed_ids: usize,
}

impl<'a> Decoder<'a> {
    pub(super) fn run(bytes: &'a [u8]) -> Result<(Snapshot, SignedPart), DecodeError> {
        check_header(bytes)?;
        let mut d = Decoder {
            r: Reader::new(bytes, 5),
            s: Snapshot {
                bytes: Box::from(bytes),
                environment: Span::default(),
                version: 0,
                published_at: 0,
                audience: Audience::Server,
                signer: None,
                kinds: Vec::new(),
                kind_words: Vec::new(),
                groups: Vec::new(),
                flags: Vec::new(),
                keys: Vec::new(),
                texts: Vec::new(),
                group_refs: Vec::new(),
                arena: Arena::default(),
                index: NameIndex::default(),
                #[cfg(feature = "float-text")]
                float_text: Some(&crate::ruby::CoreFloatText),
                #[cfg(not(feature = "float-text"))]
                float_text: None,
            },
            pending: Vec::new(),
            gaps: 0,
            packed_ids: 0,
        };
        // Keys (with run headers) are the bulk of what decoding stores; each takes at least
        // one bit of input, usually a byte or two. Reserving for one per four input bytes
        // spares most of the growth copies, and stays within the input's own size.
        d.s.keys.reserve((bytes.len() / 4).min(MAX_ACTOR_IDS));
        let signed = d.body()?;
        d.build_index();
        Ok((d.s, signed))
    }

    /// The caller's bytes, identical to the copy the snapshot owns.
    fn bytes(&self) -> &'a [u8] {
        self.r.bytes()
    }

    fn body(&mut self) -> Result<SignedPart, DecodeError> {
        self.s.environment = self.r.str_span()?;
        self.s.version = self.r.varint()?;
        self.s.published_at = self.r.zigzag()?;
        self.s.audience = match self.r.varint()? {
            0 if cfg!(feature = "full-snapshots") => Audience::Server,
            0 => return Err(DecodeError::new(K::FullSnapshot, self.r.pos() - 1)),
            1 => Audience::Browser { salt: self.r.array()? },
            _ => return Err(DecodeError::new(K::UnknownTag, self.r.pos() - 1)),
        };

        let n = self.r.len(2)?;
        // Kinds name the numeric runs of full snapshots; a browser snapshot has none.
        if !cfg!(feature = "full-snapshots") && n > 0 {
            return Err(DecodeError::new(K::NotCanonical, self.r.pos()));
        }
        self.s.kinds.reserve_exact(n);
        for _ in 0..n {
            let at = self.r.pos();
            let span = self.r.str_span()?;
            let name = span.get(self.bytes());
            if name.is_empty() || name.contains(&b':') || !self.increasing(self.s.kinds.last(), span) {
                return Err(DecodeError::new(K::NotCanonical, at));
            }
            self.s.kinds.push(span);
            self.s.kind_words.push(kind_word(name));
        }
        let mut kind_used = alloc::vec![false; n];

        let n = self.r.len(2)?;
        self.s.groups.reserve_exact(n);
        for _ in 0..n {
            let at = self.r.pos();
            let name = self.r.str_span()?;
            if name.len == 0 || !self.increasing(self.s.groups.last().map(|g| &g.name), name) {
                return Err(DecodeError::new(K::NotCanonical, at));
            }
            let expression = self.option_expression()?;
            self.s.groups.push(GroupEntry { name, expression });
        }

        // A flag takes at least 12 bytes: name, type, bits, two percentages, two empty actor
        // sets (two counts each; one in browser snapshots), no groups, no expression.
        let min_flag = if self.browser() { 10 } else { 12 };
        let n = self.r.len(min_flag)?;
        self.s.flags.reserve_exact(n);
        for _ in 0..n {
            let flag = self.flag(&mut kind_used)?;
            self.s.flags.push(flag);
        }
        if kind_used.iter().any(|used| !used) {
            return Err(DecodeError::new(K::NotCanonical, self.r.pos()));
        }
        // A group without an expression is only listed because a flag names it.
        let mut group_used = alloc::vec![false; self.s.groups.len()];
        for &g in &self.s.group_refs {
            group_used[g as usize] = true;
        }
        if self.s.groups.iter().zip(&group_used).any(|(g, used)| g.expression.is_none() && !used) {
            return Err(DecodeError::new(K::NotCanonical, self.r.pos()));
        }

        let blob_at = self.r.pos();
        let blob = self.r.bytes_span()?;
        self.actor_keys(blob, blob_at)?;
        let browser = self.browser();
        for f in &mut self.s.flags {
            f.actors.filter = ActorSetRef::filter_of(f.actors.keys.of(&self.s.keys), browser);
            f.opt_outs.filter = ActorSetRef::filter_of(f.opt_outs.keys.of(&self.s.keys), browser);
        }

        let tag_at = self.r.pos();
        let signed = match self.r.byte()? {
            0 => None,
            1 => {
                let key: [u8; PUBLIC_KEY_LEN] = self.r.array()?;
                let signature: [u8; SIGNATURE_LEN] = self.r.array()?;
                self.s.signer = Some(key);
                Some((tag_at, key, signature))
            }
            _ => return Err(DecodeError::new(K::UnknownTag, tag_at)),
        };
        if self.r.remaining() != 0 {
            return Err(self.r.err(K::TrailingBytes));
        }
        Ok(signed)
    }

    /// Whether this is a browser snapshot: always, in a build that reads nothing else, which
    /// leaves the full snapshots' decoding out of it.
    fn browser(&self) -> bool {
        !cfg!(feature = "full-snapshots") || matches!(self.s.audience, Audience::Browser { .. })
    }

    fn increasing(&self, prev: Option<&Span>, next: Span) -> bool {
        let bytes = self.bytes();
        prev.is_none_or(|p| p.get(bytes).cmp(next.get(bytes)) == Ordering::Less)
    }

    fn option_expression(&mut self) -> Result<Option<u32>, DecodeError> {
        Ok(if self.r.bool()? { Some(self.s.arena.decode(&mut self.r, 1)?) } else { None })
    }

    fn flag(&mut self, kind_used: &mut [bool]) -> Result<FlagEntry, DecodeError> {
        let at = self.r.pos();
        let name = self.r.str_span()?;
        if name.len == 0 || !self.increasing(self.s.flags.last().map(|f| &f.name), name) {
            return Err(DecodeError::new(K::NotCanonical, at));
        }
        let flag_type = FlagType::from_index(self.r.varint()?).ok_or_else(|| self.r.err(K::UnknownTag))?;
        let bits = self.r.byte()?;
        if bits & !KNOWN_BITS != 0 {
            return Err(DecodeError::new(K::UnknownTag, self.r.pos() - 1));
        }
        // Browser snapshots hold client-side flags only: the encoder writes nothing else, so
        // nothing else is one of its encodings.
        if self.browser() && bits & BIT_CLIENT_SIDE == 0 {
            return Err(DecodeError::new(K::UnknownTag, self.r.pos() - 1));
        }
        let percentage_of_actors = self.percentage()?;
        let percentage_of_time = self.percentage()?;
        let actors = self.actor_set(kind_used, true)?;
        let opt_outs = self.actor_set(kind_used, false)?;

        let n = self.r.len(1)?;
        let start = self.s.group_refs.len() as u32;
        for _ in 0..n {
            let g_at = self.r.pos();
            let g = self.r.varint_u32()?;
            if g as usize >= self.s.groups.len() {
                return Err(DecodeError::new(K::BadReference, g_at));
            }
            if self.s.group_refs.len() > start as usize && *self.s.group_refs.last().unwrap_or(&0) >= g {
                return Err(DecodeError::new(K::NotCanonical, g_at));
            }
            self.s.group_refs.push(g);
        }
        let groups = Range32 { start, len: n as u32 };
        let expression = self.option_expression()?;

        let entry = FlagEntry {
            name,
            name_crc: Crc32::new().update(name.get(self.bytes())),
            flag_type,
            bits,
            percentage_of_actors,
            percentage_of_time,
            open_buckets: percentage_of_actors.open_buckets(),
            time_cutoff: percentage_of_time.time_cutoff(),
            actors,
            opt_outs,
            groups,
            expression,
        };
        if bits & BIT_PERSISTED == 0 && entry.gate_values().any() {
            return Err(DecodeError::new(K::GatesWithoutState, at));
        }
        Ok(entry)
    }

    fn percentage(&mut self) -> Result<Percentage, DecodeError> {
        let at = self.r.pos();
        Percentage::from_thousandths(self.r.varint_u32()?).ok_or(DecodeError::new(K::BadPercentage, at))
    }

    fn actor_set(&mut self, kind_used: &mut [bool], allow_list: bool) -> Result<ActorSetRef, DecodeError> {
        if self.browser() {
            let at = self.r.pos();
            let span = self.r.bytes_span()?;
            let raw = span.get(self.bytes());
            if raw.len() % 8 != 0 {
                return Err(DecodeError::new(K::BadActorKeys, at));
            }
            self.count_packed(raw.len() / 8, at)?;
            let start = self.s.keys.len() as u32;
            for chunk in raw.chunks_exact(8) {
                let mut b = [0u8; 8];
                b.copy_from_slice(chunk);
                let h = u64::from_le_bytes(b);
                if self.s.keys.len() > start as usize && *self.s.keys.last().unwrap_or(&0) >= h {
                    return Err(DecodeError::new(K::NotCanonical, at));
                }
                self.s.keys.push(h);
            }
            let len = (raw.len() / 8) as u32;
            return Ok(ActorSetRef { keys: Range32 { start, len }, ..ActorSetRef::default() });
        }

        // Each run takes at least four bytes: kind, count, first key, parameter.
        let n = self.r.len(4)?;
        let keys_start = self.s.keys.len();
        let mut last_kind = None;
        for _ in 0..n {
            let at = self.r.pos();
            let kind = self.r.varint_u32()?;
            if kind as usize >= kind_used.len() {
                return Err(DecodeError::new(K::BadReference, at));
            }
            if last_kind.is_some_and(|last| last >= kind) {
                return Err(DecodeError::new(K::NotCanonical, at));
            }
            last_kind = Some(kind);
            kind_used[kind as usize] = true;
            let count = self.r.varint_u32()?;
            let first = self.r.varint()?;
            let k = self.r.byte()?;
            if count == 0 || k > 63 {
                return Err(DecodeError::new(K::BadActorKeys, at));
            }
            self.count_packed(count as usize, at)?;
            // A lone key has no gaps to code; only k = 0 is canonical.
            if count == 1 && k != 0 {
                return Err(DecodeError::new(K::NotCanonical, at));
            }
            // Every key after the first takes at least one bit of what remains, so the room
            // reserved below is bounded by the input.
            self.gaps += u64::from(count - 1);
            if self.gaps > self.r.remaining() as u64 * 8
                || self.s.keys.len() as u64 + u64::from(count) >= u64::from(u32::MAX)
            {
                return Err(DecodeError::new(K::UnexpectedEnd, at));
            }
            self.s.keys.push(u64::from(kind) << 32 | u64::from(count));
            let at = self.s.keys.len() as u32;
            self.s.keys.push(first);
            self.s.keys.resize(self.s.keys.len() + count as usize - 1, 0);
            if count > 1 {
                self.pending.push(PendingRun { at, count, k });
            }
        }
        let keys = Range32 { start: keys_start as u32, len: (self.s.keys.len() - keys_start) as u32 };

        let n = self.r.len(1)?;
        let texts_start = self.s.texts.len() as u32;
        for i in 0..n {
            let at = self.r.pos();
            let span = self.r.str_span()?;
            let text = span.str(self.bytes());
            let prev = if i > 0 { self.s.texts.last() } else { None };
            // An id of the form Kind:number lives in the runs — the encoder gives every such
            // kind its entry in the kind table — so in the text list it is another encoding
            // of the same state (and a lookup by runs would miss it).
            let numeric = matches!(ActorKey::of(text), ActorKey::Numeric { .. });
            if numeric || !self.increasing(prev, span) {
                return Err(DecodeError::new(K::NotCanonical, at));
            }
            // GitLab reads `<id>:opt_out` in the actor gate as an opt-out; the encoder refuses
            // such allow-list entries, and so does the decoder.
            if allow_list && text.ends_with(":opt_out") {
                return Err(DecodeError::new(K::NotCanonical, at));
            }
            self.s.texts.push(span);
        }
        let texts = Range32 { start: texts_start, len: n as u32 };
        // The filter waits for the keys, which come at the end (`actor_keys`).
        Ok(ActorSetRef { keys, texts, ..ActorSetRef::default() })
    }

    /// Counts ids that decoding expands into keys, refusing past [`MAX_ACTOR_IDS`] before
    /// any room is made for them.
    fn count_packed(&mut self, n: usize, at: usize) -> Result<(), DecodeError> {
        self.packed_ids = self.packed_ids.saturating_add(n);
        if self.packed_ids > MAX_ACTOR_IDS {
            return Err(DecodeError::new(K::TooLarge, at));
        }
        Ok(())
    }

    fn actor_keys(&mut self, blob: Span, blob_at: usize) -> Result<(), DecodeError> {
        let mut bits = BitReader::new(blob.get(self.bytes()), blob.start as usize);
        if self.gaps > u64::from(blob.len) * 8 {
            return Err(DecodeError::new(K::BadActorKeys, blob_at));
        }
        if cfg!(feature = "full-snapshots") {
            self.expand_runs(&mut bits, blob_at)?;
        }
        bits.finish()
    }

    /// The gaps of every pending run (full snapshots only), read from the bit stream.
    fn expand_runs(&mut self, bits: &mut BitReader<'_>, blob_at: usize) -> Result<(), DecodeError> {
        for run in &self.pending {
            let keys = &mut self.s.keys[run.at as usize..(run.at + run.count) as usize];
            let mut best = BestK::new(run.k);
            for i in 1..keys.len() {
                let gap = bits.read(run.k)?;
                best.add(gap);
                keys[i] = keys[i - 1]
                    .checked_add(1)
                    .and_then(|k| k.checked_add(gap))
                    .ok_or_else(|| DecodeError::new(K::BadActorKeys, blob_at))?;
            }
            // Only the encoder's choice of parameter is accepted, so that every snapshot has
            // exactly one encoding and its hash can serve as an ETag.
            if !best.holds() {
                return Err(DecodeError::new(K::NotCanonical, blob_at));
            }
        }
        self.pending = Vec::new();
        Ok(())
    }

    fn build_index(&mut self) {
        let s = &mut self.s;
        s.index = NameIndex::build(&s.bytes, s.flags.iter().map(|f| f.name));
    }
}
