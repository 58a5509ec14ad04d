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
//!
//! - [`decode`]: bytes to the index, checking every table against what the encoder writes;
//! - [`index`]: the open-addressing table over flag names;
//! - [`actor_set`]: membership in allow-lists and opt-outs (numeric runs, texts, hashes);
//! - [`view`]: one flag of a decoded snapshot, as callers see it.

mod actor_set;
mod decode;
mod index;
mod view;

pub(crate) use actor_set::{actor_hash, ActorSetRef, Kept};
pub use view::{FlagView, Inputs};

use crate::crc32::Crc32;
use crate::error::{DecodeError, DecodeErrorKind as K};
use crate::expr::Arena;
use crate::model::{Audience, Environment, FlagType, GateValues};
use crate::percentage::Percentage;
use crate::ruby::FloatText;
use crate::verify::{verify_trailer, Trailer, Verifier};
use crate::wire::Span;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

/// The first four bytes of every snapshot.
pub const MAGIC: [u8; 4] = *b"VEXL";
/// The snapshot format version this build reads and writes.
pub const FORMAT_VERSION: u8 = 1;

// The flag bits byte of the format.
pub(crate) const BIT_DEFAULT_ENABLED: u8 = 1;
pub(crate) const BIT_PERSISTED: u8 = 2;
pub(crate) const BIT_BOOLEAN: u8 = 4;
pub(crate) const BIT_CLIENT_SIDE: u8 = 8;
pub(crate) const KNOWN_BITS: u8 = 15;

/// Length of the signature trailer's public key and signature.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of an ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// A stretch `start..start + len` of one of the snapshot's flat tables.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Range32 {
    pub start: u32,
    pub len: u32,
}

impl Range32 {
    pub(crate) fn of<T>(self, items: &[T]) -> &[T] {
        &items[self.start as usize..(self.start + self.len) as usize]
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct GroupEntry {
    pub name: Span,
    pub expression: Option<u32>,
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

impl FlagEntry {
    /// Which gates hold a value, for Flipper's state rules.
    pub(crate) fn gate_values(&self) -> GateValues {
        GateValues {
            boolean: self.bits & BIT_BOOLEAN != 0,
            percentage_of_time: self.percentage_of_time,
            others: !self.actors.is_empty()
                || !self.opt_outs.is_empty()
                || self.groups.len > 0
                || !self.percentage_of_actors.is_zero()
                || self.expression.is_some(),
        }
    }
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
    index: index::NameIndex,
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

impl Snapshot {
    /// Decodes `bytes`. With `trusted_keys` empty the signature, if any, is not checked;
    /// otherwise the snapshot must be signed by one of them and the signature must verify.
    #[cfg(feature = "verify")]
    pub fn decode(bytes: &[u8], trusted_keys: &[[u8; PUBLIC_KEY_LEN]]) -> Result<Snapshot, DecodeError> {
        Snapshot::decode_with(bytes, trusted_keys, &crate::verify::Ed25519)
    }

    /// [`Snapshot::decode`] with signatures checked by `verifier`.
    pub fn decode_with(
        bytes: &[u8],
        trusted_keys: &[[u8; PUBLIC_KEY_LEN]],
        verifier: &dyn Verifier,
    ) -> Result<Snapshot, DecodeError> {
        // With keys given, nothing of an input is parsed, nor any room made for it, before
        // its signature verifies: a forged snapshot costs one hash.
        decode::check_header(bytes)?;
        let trailer = verify_trailer(bytes, trusted_keys, verifier)?;
        let (snapshot, signed) = decode::Decoder::run(bytes)?;
        match trailer {
            None => {}
            // Parsed only to tell an untrusted signer from an unsigned body (bounded like any
            // parse, by the input and the limits).
            Some(Trailer::Untrusted) => {
                let kind = if signed.is_some() { K::UntrustedKey } else { K::Unsigned };
                return Err(DecodeError::new(kind, bytes.len()));
            }
            // Only a publisher bug could sign a body that parses to another end.
            Some(Trailer::Verified(len)) if signed.map(|(at, ..)| at) != Some(len) => {
                return Err(DecodeError::new(K::TrailingBytes, len));
            }
            Some(Trailer::Verified(_)) => {}
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
        self.index.find(&self.bytes, name)
    }

    /// The flag called `name`.
    pub fn flag(&self, name: &str) -> Option<FlagView<'_>> {
        self.find(name).map(|index| FlagView::new(self, index))
    }

    /// The flag at `index` (`0..len()`, in name order).
    pub fn flag_at(&self, index: u32) -> Option<FlagView<'_>> {
        ((index as usize) < self.flags.len()).then(|| FlagView::new(self, index))
    }

    /// Every flag, in name order.
    pub fn flags(&self) -> impl ExactSizeIterator<Item = FlagView<'_>> {
        (0..self.flags.len() as u32).map(|index| FlagView::new(self, index))
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
}
