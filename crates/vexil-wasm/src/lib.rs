//! The WebAssembly face of vexil-core, shaped for a cheap boundary: the hot path takes and
//! returns numbers only. JavaScript writes an actor id (or an encoded context) into the
//! module's input buffer in wasm memory and passes its length; the result comes back as one
//! integer, `enabled | reason << 1`. A flag name crosses once: JS asks `find` the first time
//! it sees a name and caches the index on its side.
//!
//! Small is the point: the browser ships this module. It is `no_std` (no formatting
//! machinery, no unwinding), borrows float text and ed25519 verification from the host
//! (pkg/src/host.js; the verifier is a separately loaded module), reports errors as numbers
//! that the JS layer turns into typed errors, and has no generated glue: [`RawSnapshot`] is
//! plain Rust, and `abi.rs` exports it as functions of numbers (pkg/src/core.js is the JS
//! side).
//!
//! Every number that crosses the boundary with a meaning — decode error codes, reasons, flag
//! types, the `flag_info` layout, sentinels, limits — is defined once, in Rust, and the JS
//! side's `pkg/src/tables.js` is generated from these definitions ([`tables`]); a test fails
//! when the committed file disagrees.

#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

use alloc::vec::Vec;
use vexil_core::{
    Actor, AudienceKind, Context, DecodeError, DecodeErrorKind, FloatText, Freshness, Reason, Snapshot, Timestamp,
    Value, Verifier,
};
#[cfg(target_arch = "wasm32")]
mod abi;
#[cfg(not(target_arch = "wasm32"))]
pub mod tables;

/// `eval_actor`'s id length for "no actor".
pub const NO_ACTOR: u32 = u32::MAX;
/// What `eval_context` returns for a malformed context.
pub const MALFORMED_CONTEXT: u32 = u32::MAX;
/// An evaluation's result for a flag the snapshot lacks: not enabled, reason `not_found`.
pub const NOT_FOUND: u32 = (Reason::NotFound as u32) << 1;
/// Shift of the found version in `error()` for a version mismatch.
pub const ERROR_FOUND_SHIFT: u32 = 8;

/// The layout of `flag_info`: the flag type's discriminant in the low bits, then facts.
pub mod flag_info {
    /// Mask of the type (`vexil_core::FlagType as u32`).
    pub const TYPE_MASK: u32 = 0xf;
    /// `default_enabled`.
    pub const DEFAULT_ENABLED: u32 = 1 << 4;
    /// `client_side`.
    pub const CLIENT_SIDE: u32 = 1 << 5;
    /// The environment holds state for the flag.
    pub const PERSISTED: u32 = 1 << 6;
    /// Shift of the state (`State` discriminant: on, conditional, off).
    pub const STATE_SHIFT: u32 = 7;
    /// Mask of the state after shifting.
    pub const STATE_MASK: u32 = 0x3;
    /// Evaluating it reads the random draw.
    pub const READS_RANDOM: u32 = 1 << 9;
    /// Evaluating it reads the clock.
    pub const READS_CLOCK: u32 = 1 << 10;
    /// `flag_info` for an index out of range.
    pub const NONE: u32 = u32::MAX;
}

/// Concatenated 32-byte keys as the core takes them, without a copy (a partial key at the
/// end, which the JS layer never sends, is ignored).
fn trusted_keys(keys: &[u8]) -> &[[u8; 32]] {
    keys.as_chunks::<32>().0
}

/// [`DecodeErrorKind::code`] plus one, with the version found in bits [`ERROR_FOUND_SHIFT`]
/// and up for a version mismatch.
fn error_number(e: &DecodeError) -> u32 {
    let found = match e.kind() {
        DecodeErrorKind::VersionMismatch { found, .. } => u32::from(found),
        _ => 0,
    };
    (1 + u32::from(e.kind().code())) | (found << ERROR_FOUND_SHIFT)
}

/// A decoded snapshot, or the reason it could not be: what a handle of the module's ABI
/// (see `abi.rs`) stands for.
pub struct RawSnapshot {
    inner: Result<Snapshot, DecodeError>,
    /// The version and expiry of the last freshness statement `check_freshness` decoded.
    vouched: (u64, i64),
}

impl RawSnapshot {
    /// Decodes `bytes`; `keys` is any number of 32-byte ed25519 public keys, concatenated
    /// (none: signatures are not checked), which `host` checks signatures against; `host`
    /// also gives the snapshot's expressions their float text. Check `error` first.
    pub fn decode<H: Verifier + FloatText>(bytes: &[u8], keys: &[u8], host: &'static H) -> RawSnapshot {
        let inner = Snapshot::decode_with(bytes, trusted_keys(keys), host).map(|s| s.with_float_text(host));
        RawSnapshot { inner, vouched: (0, 0) }
    }

    /// 0 if the snapshot is of `environment` for `audience` (its `AudienceKind` number);
    /// otherwise the error as `error()` numbers it.
    pub fn expect(&self, environment: &str, audience: u32) -> u32 {
        let Some(s) = self.snapshot() else { return self.error() };
        let audience = AudienceKind::ALL.get(audience as usize).copied().unwrap_or(AudienceKind::Server);
        s.expect(environment, audience).map_or_else(|e| error_number(&e), |()| 0)
    }

    /// 0 if `statement` (a freshness statement signed by one of `keys`) vouches for this
    /// snapshot at `now` (ms); otherwise the error as `error()` numbers it. Once the
    /// statement decodes, `vouched_version` and `vouched_until` say what it claims.
    pub fn check_freshness(&mut self, statement: &[u8], keys: &[u8], now: f64, verifier: &dyn Verifier) -> u32 {
        self.vouched = (0, 0);
        let f = match Freshness::decode_with(statement, trusted_keys(keys), verifier) {
            Ok(f) => f,
            Err(e) => return error_number(&e),
        };
        self.vouched = (f.version(), f.expires_at());
        let Some(s) = self.snapshot() else { return self.error() };
        s.check_freshness(&f, now as i64).map_or_else(|e| error_number(&e), |()| 0)
    }

    /// The newest version the last decoded freshness statement names.
    pub fn vouched_version(&self) -> f64 {
        self.vouched.0 as f64
    }

    /// Until when (ms) the last decoded freshness statement vouches.
    pub fn vouched_until(&self) -> f64 {
        self.vouched.1 as f64
    }

    /// 0 if the snapshot decoded; otherwise [`DecodeErrorKind::code`] plus one, with the
    /// version found in bits [`ERROR_FOUND_SHIFT`] and up for a version mismatch.
    pub fn error(&self) -> u32 {
        self.inner.as_ref().err().map_or(0, error_number)
    }

    /// Where decoding stopped, for errors.
    pub fn error_offset(&self) -> u32 {
        self.inner.as_ref().err().map_or(0, |e| e.offset() as u32)
    }

    fn snapshot(&self) -> Option<&Snapshot> {
        self.inner.as_ref().ok()
    }

    /// The version (exact below 2^53).
    pub fn version(&self) -> f64 {
        self.snapshot().map_or(0.0, |s| s.version() as f64)
    }

    /// Publish time, ms since the epoch.
    pub fn published_at(&self) -> f64 {
        self.snapshot().map_or(0.0, |s| s.published_at() as f64)
    }

    /// Appends the environment's name to `out`.
    pub fn environment(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.snapshot().map_or("", |s| s.environment()).as_bytes());
    }

    /// The index of flag `name`, or -1.
    pub fn find(&self, name: &str) -> i32 {
        self.snapshot().and_then(|s| s.find(name)).map_or(-1, |i| i as i32)
    }

    /// Every flag name in index order, joined by newlines (names never contain one).
    pub fn names(&self, out: &mut Vec<u8>) {
        for (i, f) in self.snapshot().into_iter().flat_map(Snapshot::flags).enumerate() {
            if i > 0 {
                out.push(b'\n');
            }
            out.extend_from_slice(f.name().as_bytes());
        }
    }

    /// Flag `index`'s facts, packed as [`flag_info`] lays them out.
    pub fn flag_info(&self, index: u32) -> u32 {
        use flag_info::*;
        let Some(f) = self.snapshot().and_then(|s| s.flag_at(index)) else { return NONE };
        let inputs = f.inputs();
        let bit = |on: bool, bit: u32| if on { bit } else { 0 };
        f.flag_type() as u32
            | bit(f.default_enabled(), DEFAULT_ENABLED)
            | bit(f.client_side(), CLIENT_SIDE)
            | bit(f.persisted(), PERSISTED)
            | (f.state() as u32) << STATE_SHIFT
            | bit(inputs.random, READS_RANDOM)
            | bit(inputs.now, READS_CLOCK)
    }

    /// Appends the signer's public key to `out`, if signed.
    pub fn signer(&self, out: &mut Vec<u8>) {
        if let Some(key) = self.snapshot().and_then(|s| s.signer()) {
            out.extend_from_slice(key);
        }
    }

    /// The audience, as `vexil_core::AudienceKind`'s discriminant.
    pub fn audience(&self) -> u32 {
        self.snapshot().map_or(0, |s| s.audience().kind() as u32)
    }

    /// Evaluates flag `index` for the actor whose UTF-8 id is `id` (None: no actor).
    /// Returns `enabled | reason << 1`.
    pub fn eval_actor(&self, index: u32, id: Option<&[u8]>, random: f64, now: f64) -> u32 {
        let Some(s) = self.snapshot() else { return NOT_FOUND };
        let now = Timestamp::from_unix_nanos((now * 1e6) as i64);
        let decision = match id {
            None => s.evaluate_index(index, &Context::new(&[], random, now)),
            Some(bytes) => {
                let actors = [Actor::new(core::str::from_utf8(bytes).unwrap_or(""))];
                s.evaluate_index(index, &Context::new(&actors, random, now))
            }
        };
        u32::from(decision.enabled) | (decision.reason as u32) << 1
    }

    /// Evaluates flag `index` for `context`, encoded as `decode_context` reads it.
    /// Returns `enabled | reason << 1`, or [`MALFORMED_CONTEXT`].
    pub fn eval_context(&self, index: u32, context: &[u8], random: f64, now: f64) -> u32 {
        let Some(s) = self.snapshot() else { return NOT_FOUND };
        let now = Timestamp::from_unix_nanos((now * 1e6) as i64);
        let Some(owned) = decode_context(context) else {
            return MALFORMED_CONTEXT;
        };
        let actors: Vec<Actor<'_>> = owned.iter().map(|a| Actor::with_properties(a.id, &a.props)).collect();
        let d = s.evaluate_index(index, &Context::new(&actors, random, now));
        u32::from(d.enabled) | (d.reason as u32) << 1
    }

    /// Every flag, or with `client_side_only` every client-side flag, for `context` (encoded
    /// as `decode_context` reads it), in index order: one byte each, `enabled | reason << 1`,
    /// appended to `out`. One call for a page's bootstrap or an `evaluateAll` instead of one
    /// per flag, with the context decoded once. Nothing when the context is malformed.
    pub fn eval_all(&self, context: &[u8], random: f64, now: f64, client_side_only: bool, out: &mut Vec<u8>) {
        let Some(s) = self.snapshot() else { return };
        let now = Timestamp::from_unix_nanos((now * 1e6) as i64);
        let Some(owned) = decode_context(context) else { return };
        let actors: Vec<Actor<'_>> = owned.iter().map(|a| Actor::with_properties(a.id, &a.props)).collect();
        let ctx = Context::new(&actors, random, now);
        let flags = s.flags().enumerate().filter(|(_, f)| !client_side_only || f.client_side()).map(|(i, _)| i as u32);
        s.evaluate_many(flags, &ctx, |_, d| out.push(u8::from(d.enabled) | (d.reason as u8) << 1));
    }
}

struct OwnedActor<'a> {
    id: &'a str,
    props: Vec<(&'a str, Value<'a>)>,
}

/// Runs `f` with the actors of a context in the boundary's encoding (see `decode_context`),
/// or returns None when it is malformed: what the fuzz target drives natively.
#[doc(hidden)]
pub fn with_context<R>(bytes: &[u8], f: impl FnOnce(&[Actor<'_>]) -> R) -> Option<R> {
    let owned = decode_context(bytes)?;
    let actors: Vec<Actor<'_>> = owned.iter().map(|a| Actor::with_properties(a.id, &a.props)).collect();
    Some(f(&actors))
}

/// The context encoding the JS layer writes: `u8` actor count; per actor a `u16` id length
/// and the id, a `u8` property count, and per property a `u16` key length, the key, a tag
/// (0 null, 1 false, 2 true, 3 integer as f64, 4 float as f64, 5 string) and its payload
/// (8 bytes little-endian for numbers, a `u32` length and the bytes for strings).
fn decode_context(bytes: &[u8]) -> Option<Vec<OwnedActor<'_>>> {
    let mut r = Cursor { bytes, pos: 0 };
    let n = r.u8()? as usize;
    if n > vexil_core::limits::MAX_CONTEXT_ACTORS {
        return None;
    }
    let mut actors = Vec::with_capacity(n);
    for _ in 0..n {
        let id_len = r.u16()? as usize;
        let id = r.str(id_len)?;
        let props_n = r.u8()? as usize;
        let mut props = Vec::with_capacity(props_n);
        for _ in 0..props_n {
            let key_len = r.u16()? as usize;
            let key = r.str(key_len)?;
            let value = match r.u8()? {
                0 => Value::Null,
                1 => Value::Bool(false),
                2 => Value::Bool(true),
                3 => Value::Int(r.f64()? as i64),
                4 => Value::Float(r.f64()?),
                5 => {
                    let len = r.u32()? as usize;
                    Value::Str(r.str(len)?)
                }
                _ => return None,
            };
            props.push((key, value));
        }
        actors.push(OwnedActor { id, props });
    }
    (r.pos == bytes.len()).then_some(actors)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn f64(&mut self) -> Option<f64> {
        self.take(8).map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }
    fn str(&mut self, n: usize) -> Option<&'a str> {
        core::str::from_utf8(self.take(n)?).ok()
    }
}
