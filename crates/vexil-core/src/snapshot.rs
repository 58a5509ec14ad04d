//! The snapshot: one environment's flag state as bytes, decoded once into an index fit for
//! evaluation on the hot path.
//!
//! ```text
//!  bytes ──decode──▶ Snapshot ──find(name)──▶ flag index ──evaluate(ctx)──▶ Decision
//!   ▲                  │  (names hashed into an open-addressing table; the CRC state after
//!   │                  │   each name doubles as the prefix of Flipper's percentage hash)
//!   └──── encode ◀── Environment (owned model) ◀── to_environment
//! ```
//!
//! The layout is specified in `docs/snapshot-format.md`. Decoding checks everything — order,
//! references, ranges, the signature when keys are given — so evaluation can trust the index
//! without re-checking, and never panics on anything it was handed.

use crate::actor::{kind_word, ActorKey};
use crate::crc32::Crc32;
use crate::error::{DecodeError, DecodeErrorKind as K};
use crate::expr::Arena;
use crate::limits::MAX_SNAPSHOT_BYTES;
use crate::model::{ActorSet, Audience, Environment, Flag, FlagType, Gates, State};
use crate::percentage::Percentage;
use crate::ruby::FloatText;
use crate::wire::rice::{is_best_k, BitReader};
use crate::wire::{Reader, Span};
use alloc::boxed::Box;
use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Ordering;
use core::fmt;

/// The first four bytes of every snapshot.
pub const MAGIC: [u8; 4] = *b"VEXL";
/// The snapshot format version this build reads and writes.
pub const FORMAT_VERSION: u8 = 1;

pub(crate) const BIT_DEFAULT_ENABLED: u8 = 1;
pub(crate) const BIT_PERSISTED: u8 = 2;
pub(crate) const BIT_BOOLEAN: u8 = 4;
pub(crate) const BIT_CLIENT_SIDE: u8 = 8;
const KNOWN_BITS: u8 = 15;

/// Length of the signature trailer's public key and signature.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of an ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

const EMPTY: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Slot {
    tag: u32,
    flag: u32,
    name: Span,
}

const EMPTY_SLOT: Slot = Slot { tag: 0, flag: EMPTY, name: Span { start: 0, len: 0 } };

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Range32 {
    pub start: u32,
    pub len: u32,
}

impl Range32 {
    fn of<T>(self, items: &[T]) -> &[T] {
        &items[self.start as usize..(self.start + self.len) as usize]
    }
}

/// An actor set: its numeric runs (or, in browser snapshots, its hashes) in `keys`, and its
/// other ids in `texts`. A run is laid out in `keys` as a header `kind << 32 | count` followed
/// by its `count` sorted keys, so a lookup touches one contiguous stretch of memory.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ActorSetRef {
    keys: Range32,
    texts: Range32,
}

impl ActorSetRef {
    fn is_empty(&self) -> bool {
        self.keys.len == 0 && self.texts.len == 0
    }
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

/// A run whose gaps are still to be read from the bit stream.
struct PendingRun {
    at: u32,
    count: u32,
    k: u8,
}

#[derive(Clone, Copy, Debug)]
struct GroupEntry {
    name: Span,
    expression: Option<u32>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct FlagEntry {
    pub name: Span,
    /// CRC-32 state after the name: the prefix of Flipper's percentage hash.
    pub name_crc: Crc32,
    pub flag_type: FlagType,
    pub bits: u8,
    pub percentage_of_actors: Percentage,
    pub percentage_of_time: Percentage,
    pub open_buckets: u32,
    pub time_cutoff: f64,
    pub actors: ActorSetRef,
    pub opt_outs: ActorSetRef,
    pub groups: Range32,
    pub expression: Option<u32>,
}

/// A decoded, verified snapshot, indexed for evaluation.
pub struct Snapshot {
    bytes: Box<[u8]>,
    environment: Span,
    version: u64,
    published_at: i64,
    audience: Audience,
    signer: Option<[u8; PUBLIC_KEY_LEN]>,
    kinds: Vec<Span>,
    /// `kind_word` of each kind, for the hot-path comparison.
    kind_words: Vec<u64>,
    groups: Vec<GroupEntry>,
    pub(crate) flags: Vec<FlagEntry>,
    keys: Vec<u64>,
    texts: Vec<Span>,
    pub(crate) group_refs: Vec<u32>,
    arena: Arena,
    /// Open addressing over flags: probes compare 32-bit tags without touching the flags,
    /// and the name's place in `bytes` rides along so that confirming a hit does not wait
    /// for the flag's entry to load.
    index: Vec<Slot>,
    /// `64 - log2(index.len())`: slots come from the hash's top bits.
    index_shift: u32,
    float_text: Option<&'static dyn FloatText>,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("environment", &self.environment())
            .field("version", &self.version)
            .field("flags", &self.flags.len())
            .field("signed", &self.signer.is_some())
            .finish()
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
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
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

/// SipHash-2-4 of an actor id under a browser snapshot's salt.
pub(crate) fn actor_hash(salt: &[u8; 16], id: &str) -> u64 {
    use core::hash::Hasher;
    let mut h = siphasher::sip::SipHasher24::new_with_key(salt);
    h.write(id.as_bytes());
    h.finish()
}

/// Checks an ed25519 signature. [`Snapshot::decode`] uses the built-in one (feature
/// `verify`); the browser build passes one that calls a separately loaded module, so pages
/// that never check signatures never download the curve arithmetic.
pub trait Verifier {
    /// Whether `signature` is `public_key`'s signature of `message`.
    fn verify(&self, public_key: &[u8; PUBLIC_KEY_LEN], message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool;
}

/// ed25519-compact's verification.
#[cfg(feature = "verify")]
#[derive(Clone, Copy, Debug, Default)]
pub struct Ed25519;

#[cfg(feature = "verify")]
impl Verifier for Ed25519 {
    fn verify(&self, public_key: &[u8; PUBLIC_KEY_LEN], message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
        let key = ed25519_compact::PublicKey::new(*public_key);
        key.verify(message, &ed25519_compact::Signature::new(*signature)).is_ok()
    }
}

impl Snapshot {
    /// Decodes `bytes`. With `trusted_keys` empty the signature, if any, is not checked;
    /// otherwise the snapshot must be signed by one of them and the signature must verify.
    #[cfg(feature = "verify")]
    pub fn decode(bytes: &[u8], trusted_keys: &[[u8; PUBLIC_KEY_LEN]]) -> Result<Snapshot, DecodeError> {
        Snapshot::decode_with(bytes, trusted_keys, &Ed25519)
    }

    /// [`Snapshot::decode`] with signatures checked by `verifier`.
    pub fn decode_with(
        bytes: &[u8],
        trusted_keys: &[[u8; PUBLIC_KEY_LEN]],
        verifier: &dyn Verifier,
    ) -> Result<Snapshot, DecodeError> {
        let (snapshot, signed) = Decoder::run(bytes)?;
        if !trusted_keys.is_empty() {
            let Some((message_len, key, signature)) = signed else {
                return Err(DecodeError::new(K::Unsigned, bytes.len()));
            };
            if !trusted_keys.contains(&key) {
                return Err(DecodeError::new(K::UntrustedKey, message_len));
            }
            if !verifier.verify(&key, &bytes[..message_len], &signature) {
                return Err(DecodeError::new(K::BadSignature, message_len));
            }
        }
        Ok(snapshot)
    }

    /// Uses `float_text` for the float text in expressions (Ruby's `Float#to_s` and
    /// `String#to_f`). Without one (a build without feature `float-text` that sets none),
    /// expressions that need float text do not hold.
    pub fn with_float_text(mut self, float_text: &'static dyn FloatText) -> Snapshot {
        self.float_text = Some(float_text);
        self
    }

    pub(crate) fn float_text(&self) -> Option<&'static dyn FloatText> {
        self.float_text
    }

    /// The exact bytes this snapshot was decoded from.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The environment's name.
    pub fn environment(&self) -> &str {
        self.environment.str(&self.bytes)
    }

    /// The version: it increases with every published change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// When this version was published, in milliseconds since the Unix epoch.
    pub fn published_at(&self) -> i64 {
        self.published_at
    }

    /// Who the snapshot is for.
    pub fn audience(&self) -> Audience {
        self.audience
    }

    /// The public key of the signature trailer, if the snapshot is signed. Only meaningful
    /// as a trust statement when the snapshot was decoded with trusted keys.
    pub fn signer(&self) -> Option<&[u8; PUBLIC_KEY_LEN]> {
        self.signer.as_ref()
    }

    /// How many flags the snapshot holds.
    pub fn len(&self) -> usize {
        self.flags.len()
    }

    /// Whether the snapshot holds no flag.
    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
    }

    /// The index of flag `name`, for [`Snapshot::evaluate_index`].
    pub fn find(&self, name: &str) -> Option<u32> {
        let hash = name_hash(name.as_bytes());
        let tag = hash as u32;
        let mask = self.index.len() - 1;
        let mut slot = (hash >> self.index_shift) as usize;
        loop {
            let s = self.index[slot];
            if s.flag == EMPTY {
                return None;
            }
            if s.tag == tag && bytes_eq(s.name.get(&self.bytes), name.as_bytes()) {
                return Some(s.flag);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// The flag called `name`.
    pub fn flag(&self, name: &str) -> Option<FlagView<'_>> {
        self.find(name).map(|index| FlagView { snapshot: self, index })
    }

    /// The flag at `index` (`0..len()`, in name order).
    pub fn flag_at(&self, index: u32) -> Option<FlagView<'_>> {
        ((index as usize) < self.flags.len()).then_some(FlagView { snapshot: self, index })
    }

    /// Every flag, in name order.
    pub fn flags(&self) -> impl ExactSizeIterator<Item = FlagView<'_>> {
        (0..self.flags.len() as u32).map(|index| FlagView { snapshot: self, index })
    }

    /// The feature groups defined in the snapshot, by name.
    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.groups.iter().filter(|g| g.expression.is_some()).map(|g| g.name.str(&self.bytes))
    }

    pub(crate) fn arena(&self) -> &Arena {
        &self.arena
    }

    pub(crate) fn name_crc(&self, flag: u32) -> Crc32 {
        self.flags[flag as usize].name_crc
    }

    pub(crate) fn group_expression(&self, group: u32) -> Option<u32> {
        self.groups[group as usize].expression
    }

    /// Whether `id` is in an actor set of this snapshot.
    pub(crate) fn contains(&self, set: &ActorSetRef, id: &str) -> bool {
        if set.is_empty() {
            return false;
        }
        if let Audience::Browser { salt } = &self.audience {
            return contains_key(set.keys.of(&self.keys), actor_hash(salt, id));
        }
        let bytes = id.as_bytes();
        // One pass for the kind: where the colon is, and the kind's first eight bytes.
        let mut colon = 0;
        let mut word = 0u64;
        while colon < bytes.len() && bytes[colon] != b':' {
            if colon < 8 {
                word |= u64::from(bytes[colon]) << (8 * colon);
            }
            colon += 1;
        }
        if colon > 0 && colon < bytes.len() {
            if let Some(key) = crate::actor::canonical_u64(&bytes[colon + 1..]) {
                if let Some(kind) = self.kind_index_of(word, &bytes[..colon]) {
                    let mut keys = set.keys.of(&self.keys);
                    // Walk the set's runs: a header `kind << 32 | count`, then the keys.
                    while let Some((&header, rest)) = keys.split_first() {
                        let count = ((header & 0xffff_ffff) as usize).min(rest.len());
                        if (header >> 32) as usize == kind {
                            return contains_key(&rest[..count], key);
                        }
                        keys = &rest[count..];
                    }
                    return false;
                }
            }
        }
        set.texts.of(&self.texts).binary_search_by(|t| t.get(&self.bytes).cmp(bytes)).is_ok()
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

    /// GitLab keeps opt-outs as `<id>:opt_out` entries of the actor gate, so an actor whose
    /// id is literally `X:opt_out` passes the actor gate when `X` is opted out.
    pub(crate) fn in_actor_gate(&self, f: &FlagEntry, id: &str) -> bool {
        self.contains(&f.actors, id)
            || (!f.opt_outs.is_empty()
                && id.strip_suffix(":opt_out").is_some_and(|inner| self.contains(&f.opt_outs, inner)))
    }

    /// Rebuilds the owned model, e.g. to inspect or modify a snapshot.
    pub fn to_environment(&self) -> Environment {
        let mut env = Environment::new(self.environment(), self.version, self.published_at);
        env.audience = self.audience;
        for g in &self.groups {
            if let Some(root) = g.expression {
                env.groups.insert(g.name.str(&self.bytes).into(), self.arena.to_expr(&self.bytes, root));
            }
        }
        for view in self.flags() {
            env.flags.insert(view.name().into(), view.to_flag());
        }
        env
    }

    fn actor_set(&self, set: &ActorSetRef) -> ActorSet {
        if let Audience::Browser { .. } = self.audience {
            return ActorSet::Hashed(set.keys.of(&self.keys).iter().copied().collect());
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

/// What an evaluation of a flag can read from its [`crate::Context`] besides the actors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inputs {
    /// The random draw (percentage of time, `Random`).
    pub random: bool,
    /// The clock (`Now`).
    pub now: bool,
}

/// One flag of a snapshot.
#[derive(Clone, Copy)]
pub struct FlagView<'s> {
    snapshot: &'s Snapshot,
    index: u32,
}

impl<'s> FlagView<'s> {
    fn entry(&self) -> &'s FlagEntry {
        &self.snapshot.flags[self.index as usize]
    }
    /// The index for [`Snapshot::evaluate_index`].
    pub fn index(&self) -> u32 {
        self.index
    }
    /// The flag's name.
    pub fn name(&self) -> &'s str {
        self.entry().name.str(&self.snapshot.bytes)
    }
    /// The definition's type.
    pub fn flag_type(&self) -> FlagType {
        self.entry().flag_type
    }
    /// The definition's `default_enabled`.
    pub fn default_enabled(&self) -> bool {
        self.entry().bits & BIT_DEFAULT_ENABLED != 0
    }
    /// Whether the environment holds state for the flag.
    pub fn persisted(&self) -> bool {
        self.entry().bits & BIT_PERSISTED != 0
    }
    /// Whether browsers may see the flag.
    pub fn client_side(&self) -> bool {
        self.entry().bits & BIT_CLIENT_SIDE != 0
    }
    /// Flipper's state of the gates.
    pub fn state(&self) -> State {
        let e = self.entry();
        if e.bits & BIT_BOOLEAN != 0 || e.percentage_of_time == Percentage::HUNDRED {
            State::On
        } else if !e.actors.is_empty()
            || !e.opt_outs.is_empty()
            || e.groups.len > 0
            || !e.percentage_of_actors.is_zero()
            || !e.percentage_of_time.is_zero()
            || e.expression.is_some()
        {
            State::Conditional
        } else {
            State::Off
        }
    }
    /// Which of the context's clock and random draw evaluating this flag can read, so callers
    /// for whom either is costly (a JavaScript `Date.now()` is) can skip them. Conservative:
    /// a flag that asks about other flags (`FeatureEnabled`) may need both.
    pub fn inputs(&self) -> Inputs {
        let s = self.snapshot;
        let e = self.entry();
        let mut inputs = Inputs { random: !e.percentage_of_time.is_zero(), now: false };
        let mut scan = |root: u32| {
            let used = s.arena.functions_used(root);
            inputs.random |= used.random || used.feature_enabled;
            inputs.now |= used.now || used.feature_enabled;
        };
        if let Some(root) = e.expression {
            scan(root);
        }
        for &g in e.groups.of(&s.group_refs) {
            if let Some(root) = s.groups[g as usize].expression {
                scan(root);
            }
        }
        inputs
    }

    /// The flag as an owned model value.
    pub fn to_flag(&self) -> Flag {
        let s = self.snapshot;
        let e = self.entry();
        Flag {
            flag_type: e.flag_type,
            default_enabled: self.default_enabled(),
            client_side: self.client_side(),
            persisted: self.persisted(),
            gates: Gates {
                boolean: e.bits & BIT_BOOLEAN != 0,
                actors: s.actor_set(&e.actors),
                opt_outs: s.actor_set(&e.opt_outs),
                groups: e
                    .groups
                    .of(&s.group_refs)
                    .iter()
                    .map(|&g| s.groups[g as usize].name.str(&s.bytes).into())
                    .collect(),
                percentage_of_actors: e.percentage_of_actors,
                percentage_of_time: e.percentage_of_time,
                expression: e.expression.map(|root| s.arena.to_expr(&s.bytes, root)),
            },
        }
    }
}

type SignedPart = Option<(usize, [u8; PUBLIC_KEY_LEN], [u8; SIGNATURE_LEN])>;

struct Decoder<'a> {
    r: Reader<'a>,
    s: Snapshot,
    pending: Vec<PendingRun>,
    gaps: u64,
}

impl<'a> Decoder<'a> {
    fn run(bytes: &'a [u8]) -> Result<(Snapshot, SignedPart), DecodeError> {
        if bytes.len() > MAX_SNAPSHOT_BYTES {
            return Err(DecodeError::new(K::TooLarge, MAX_SNAPSHOT_BYTES));
        }
        if bytes.len() < 4 || bytes[..4] != MAGIC {
            return Err(DecodeError::new(K::BadMagic, 0));
        }
        match bytes.get(4) {
            Some(&FORMAT_VERSION) => {}
            Some(&found) => return Err(DecodeError::new(K::VersionMismatch { expected: FORMAT_VERSION, found }, 4)),
            None => return Err(DecodeError::new(K::UnexpectedEnd, 4)),
        }
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
                index: Vec::new(),
                index_shift: 63,
                #[cfg(feature = "float-text")]
                float_text: Some(&crate::ruby::CoreFloatText),
                #[cfg(not(feature = "float-text"))]
                float_text: None,
            },
            pending: Vec::new(),
            gaps: 0,
        };
        // Keys (with run headers) are the bulk of what decoding stores; each takes at least
        // one bit of input, usually a byte or two. Reserving for one per four input bytes
        // spares most of the growth copies, and stays within the input's own size.
        d.s.keys.reserve(bytes.len() / 4);
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
            0 => Audience::Server,
            1 => Audience::Browser { salt: self.r.array()? },
            _ => return Err(DecodeError::new(K::UnknownTag, self.r.pos() - 1)),
        };

        let n = self.r.len(2)?;
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
        let min_flag = if let Audience::Browser { .. } = self.s.audience { 10 } else { 12 };
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
        if matches!(self.s.audience, Audience::Browser { .. }) && bits & BIT_CLIENT_SIDE == 0 {
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

        let persisted = bits & BIT_PERSISTED != 0;
        let gated = bits & BIT_BOOLEAN != 0
            || !percentage_of_actors.is_zero()
            || !percentage_of_time.is_zero()
            || !actors.is_empty()
            || !opt_outs.is_empty()
            || n > 0
            || expression.is_some();
        if !persisted && gated {
            return Err(DecodeError::new(K::GatesWithoutState, at));
        }
        Ok(FlagEntry {
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
        })
    }

    fn percentage(&mut self) -> Result<Percentage, DecodeError> {
        let at = self.r.pos();
        Percentage::from_thousandths(self.r.varint_u32()?).ok_or(DecodeError::new(K::BadPercentage, at))
    }

    fn actor_set(&mut self, kind_used: &mut [bool], allow_list: bool) -> Result<ActorSetRef, DecodeError> {
        if let Audience::Browser { .. } = self.s.audience {
            let at = self.r.pos();
            let span = self.r.bytes_span()?;
            let raw = span.get(self.bytes());
            if raw.len() % 8 != 0 {
                return Err(DecodeError::new(K::BadActorKeys, at));
            }
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
            // An id of the form Kind:number with a known kind lives in the runs; the text list
            // holding it too would make lookups miss it.
            let numeric = matches!(ActorKey::of(text), ActorKey::Numeric { kind, .. }
                if self.s.kinds.iter().any(|k| k.get(self.bytes()) == kind.as_bytes()));
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
        Ok(ActorSetRef { keys, texts })
    }

    fn actor_keys(&mut self, blob: Span, blob_at: usize) -> Result<(), DecodeError> {
        let mut bits = BitReader::new(blob.get(self.bytes()), blob.start as usize);
        if self.gaps > u64::from(blob.len) * 8 {
            return Err(DecodeError::new(K::BadActorKeys, blob_at));
        }
        for run in &self.pending {
            let keys = &mut self.s.keys[run.at as usize..(run.at + run.count) as usize];
            for i in 1..keys.len() {
                let gap = bits.read(run.k)?;
                keys[i] = keys[i - 1]
                    .checked_add(1)
                    .and_then(|k| k.checked_add(gap))
                    .ok_or_else(|| DecodeError::new(K::BadActorKeys, blob_at))?;
            }
            // Only the encoder's choice of parameter is accepted, so that every snapshot has
            // exactly one encoding and its hash can serve as an ETag.
            if !is_best_k(keys.windows(2).map(|p| p[1] - p[0] - 1), run.k) {
                return Err(DecodeError::new(K::NotCanonical, blob_at));
            }
        }
        self.pending = Vec::new();
        bits.finish()
    }

    fn build_index(&mut self) {
        let cap = (self.s.flags.len() * 2).next_power_of_two().max(2);
        let mut index = alloc::vec![EMPTY_SLOT; cap];
        let mask = cap - 1;
        self.s.index_shift = 64 - cap.trailing_zeros();
        for (i, f) in self.s.flags.iter().enumerate() {
            let hash = name_hash(f.name.get(&self.s.bytes));
            let mut slot = (hash >> self.s.index_shift) as usize;
            while index[slot].flag != EMPTY {
                slot = (slot + 1) & mask;
            }
            index[slot] = Slot { tag: hash as u32, flag: i as u32, name: f.name };
        }
        self.s.index = index;
    }
}
