//! vexil's evaluation core: decides "is this flag on for this actor" exactly as GitLab does
//! with Flipper, from a compact, signed snapshot of one environment's flag state.
//!
//! ```text
//!   publisher (std)                          SDKs: wasm in browsers and edge workers, native
//!  ┌──────────────────┐  encode + sign   ┌───────────┐  decode + verify  ┌──────────┐
//!  │ model::Environment│ ───────────────▶ │  bytes    │ ────────────────▶ │ Snapshot │
//!  └──────────────────┘  (feature         │ (.vxl)    │                   └────┬─────┘
//!                         `encode`)       └───────────┘      evaluate(flag, Context)│
//!                                                                               ▼
//!                                                         Decision { enabled, reason, version }
//! ```
//!
//! The core is sans-I/O in the manner of rustls: it never reads a clock, draws a random
//! number, or touches a file or socket. The caller passes "now" and a random draw in the
//! [`Context`], which is what lets one core run natively, in a browser and in a worker, and be
//! tested exhaustively against Flipper itself.
//!
//! Semantics (the README's first section, and the crate's tests against real Flipper):
//! - a flag with nothing persisted takes its definition's `default_enabled`;
//! - otherwise the first open gate in Flipper ≥ 1.1 order enables it (boolean, expression,
//!   actor, percentage of actors, percentage of time, group), unless an actor is opted out;
//! - percentage of actors is `crc32(flag ++ ids.sort.join) % 100_000 < pct * 1_000`, computed
//!   with Ruby's floating point;
//! - feature groups are Flipper expressions over an actor's properties and `flipper_id`.
//!
//! Evaluating one flag neither scans the others nor allocates.

#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
// The crate must stay no_std: name core and alloc items by their home.
#![warn(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

extern crate alloc;

mod actor;
#[cfg(feature = "encode")]
mod browser;
mod cost;
mod crc32;
#[cfg(feature = "encode")]
mod encode;
mod error;
mod eval;
mod expr;
mod freshness;
pub mod limits;
mod model;
mod percentage;
mod ruby;
mod snapshot;
mod time;
mod verify;
mod wire;

pub use actor::{Actor, Context, OwnedValue, Value};
pub use crc32::{crc32, Crc32};
#[cfg(feature = "encode")]
pub use encode::{encode, EncodeError, SigningKey};
pub use error::{write_version_mismatch, DecodeError, DecodeErrorKind};
pub use eval::{Decision, Reason};
pub use expr::{Expr, ExprError, Function};
#[cfg(feature = "encode")]
pub use freshness::encode_freshness;
pub use freshness::{Freshness, FRESHNESS_FORMAT, FRESHNESS_MAGIC};
pub use model::{ActorSet, Audience, AudienceKind, Environment, Flag, FlagType, Gates, State};
pub use percentage::{Percentage, PercentageError, BUCKETS};
#[cfg(feature = "float-text")]
pub use ruby::CoreFloatText;
pub use ruby::{digits_of_exponential, FloatText};
pub use snapshot::{FlagView, Inputs, Snapshot, FORMAT_VERSION, MAGIC, PUBLIC_KEY_LEN, SIGNATURE_LEN};
pub use time::{Timestamp, UtcDateTime};
#[cfg(feature = "verify")]
pub use verify::Ed25519;
pub use verify::Verifier;

/// Flipper's percentage-of-actors bucket (0 to 99 999) of `actor_ids` for flag `flag`: the
/// ids sorted, joined and appended to the flag's name, hashed with CRC-32.
pub fn bucket(flag: &str, actor_ids: &[&str]) -> u32 {
    let crc = Crc32::new().update(flag.as_bytes());
    let mut actors: alloc::vec::Vec<Actor<'_>> = actor_ids.iter().map(|id| Actor::new(id)).collect();
    actors.truncate(limits::MAX_CONTEXT_ACTORS);
    eval::bucket(crc, &actors)
}
