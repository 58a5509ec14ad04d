//! Freshness statements on the publisher's side ([`vexil_core::Freshness`]): each push
//! writes one next to `latest.vxl`, `vexil freshness` re-issues them on a schedule (cron,
//! CI), and `vexil serve` issues its own for its routes. A client that verifies signatures
//! takes a snapshot only when a statement unexpired vouches for it, so an origin that
//! stops being re-issued (frozen, or replaying an old state) is refused within a lifetime.

use crate::error::{Error, Result};
use std::time::Duration;
use vexil_core::{encode_freshness, SigningKey, Snapshot};

/// The statement's name next to `latest.vxl` in a target and under `vexil serve`.
pub const FILE: &str = "freshness.vxf";

/// How long a statement vouches unless `[signing] freshness` says otherwise: TUF's default
/// for its timestamp role. Re-issue well within it (`vexil freshness` hourly).
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// What signs snapshots and statements: the key and how long a statement vouches.
#[derive(Clone, Debug)]
pub struct Signing {
    /// The signing key.
    pub key: SigningKey,
    /// A statement's lifetime.
    pub freshness: Duration,
}

impl Signing {
    /// The statement for `snapshot` (a signed one), issued at `now_ms`.
    pub fn statement(&self, snapshot: &Snapshot, now_ms: i64) -> Result<Vec<u8>> {
        let expires = now_ms.saturating_add(self.freshness.as_millis().min(i64::MAX as u128) as i64);
        encode_freshness(snapshot, now_ms, expires, &self.key)
            .map_err(|e| Error::refused(format!("freshness statement: {}", e.message())))
    }
}
