//! The source of truth: every published version of every environment, with its exact
//! snapshot bytes, and the change log. Writes happen only inside [`Store::write`], one
//! transaction that serializes with every other writer, so concurrent `vexil` processes
//! never lose a change and a crash leaves the old or the new state.
//!
//! One small interface, implemented for SQLite (the embedded default), PostgreSQL (for
//! teams: several machines and CI jobs on one state) and memory (for tests of everything
//! above the store).

mod chain;
mod memory;
#[cfg(test)]
mod outbox_tests;
mod postgres;
mod postgres_chain;
mod postgres_connect;
mod postgres_outbox;
mod postgres_rollouts;
mod postgres_tls;
mod rollout_rows;
mod sqlite;
mod sqlite_chain;
mod sqlite_outbox;
mod sqlite_rollouts;

pub use chain::{broken_link, snapshot_digest, ChainEntry};
pub use memory::MemoryStore;
pub use postgres::{redact, Listener, PostgresStore};
pub use rollout_rows::{is_active, RolloutEvent, RolloutRow};
pub use sqlite::SqliteStore;

use crate::config::StateConfig;
use crate::error::{Error, Result};
use crate::plan::{Action, ChangeRecord, Recorded};
use crate::project::EntryPoint;
use crate::tokens::Access;
use serde::Serialize;
use std::time::Duration;

/// Opens the state database `state` names; writers wait up to `busy` for one another.
pub fn open(state: &StateConfig, busy: Duration) -> Result<Box<dyn Store + Send>> {
    Ok(match state {
        StateConfig::Sqlite(path) => Box::new(SqliteStore::open(path, busy)?),
        StateConfig::Postgres(url) => Box::new(PostgresStore::open(url, busy)?),
    })
}

/// One published version of an environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionRow {
    /// The environment.
    pub environment: String,
    /// The version, from 1.
    pub version: u64,
    /// When it was published (ms since the epoch).
    pub published_at: i64,
    /// Who published it.
    pub author: String,
    /// The exact snapshot bytes SDKs load.
    pub snapshot: Vec<u8>,
    /// Its browser snapshot (client-side flags, ids hashed), made and signed when the
    /// version was committed, so that serving it needs no signing key. None for versions
    /// committed before vexil stored them.
    pub browser_snapshot: Option<Vec<u8>>,
}

impl VersionRow {
    /// The stored snapshot, decoded (signatures were checked when it was published).
    pub fn decode(&self) -> Result<vexil_core::Snapshot> {
        vexil_core::Snapshot::decode(&self.snapshot, &[]).map_err(|e| {
            crate::Error::io(format!("stored version {} of {} does not decode: {e}", self.version, self.environment))
        })
    }
}

/// One change-log entry.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Change {
    /// Assigned by the store, increasing.
    pub id: i64,
    /// The environment.
    pub environment: String,
    /// The version this change produced.
    pub version: u64,
    /// The flag, if the change concerns one.
    pub flag: Option<String>,
    /// What happened.
    pub action: Action,
    /// The exact command (a request's description for the API).
    pub command: String,
    /// Who: a person, or the name of the token the change was made with.
    pub author: String,
    /// Which entry point made it.
    pub via: EntryPoint,
    /// When (ms since the epoch).
    pub at: i64,
    /// The flag before (gates, definition facts, or nothing).
    pub before: Recorded,
    /// The flag after.
    pub after: Recorded,
}

impl Change {
    /// The entry for `record`, made by `origin`, producing `version`; the store assigns `id`.
    pub fn new(record: ChangeRecord, version: u64, origin: &crate::project::Origin) -> Change {
        Change {
            id: 0,
            environment: record.environment,
            version,
            flag: record.flag,
            action: record.action,
            command: origin.command.clone(),
            author: origin.author.clone(),
            via: origin.via,
            at: origin.at,
            before: record.before,
            after: record.after,
        }
    }

    /// `before` and `after` as the stores keep them: JSON text.
    pub(crate) fn stored_sides(&self) -> (String, String) {
        (self.before.to_json().to_string(), self.after.to_json().to_string())
    }
}

/// A change-log row as both databases hold it, before it is read into a [`Change`]: what
/// the hash chain covers, byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredChange {
    /// [`Change::id`].
    pub id: i64,
    /// [`Change::environment`].
    pub environment: String,
    /// [`Change::version`].
    pub version: i64,
    /// [`Change::flag`].
    pub flag: Option<String>,
    /// [`Change::action`], by name.
    pub action: String,
    /// [`Change::command`].
    pub command: String,
    /// [`Change::author`].
    pub author: String,
    /// [`Change::via`], by name.
    pub via: String,
    /// [`Change::at`].
    pub at: i64,
    /// [`Change::before`], as JSON text.
    pub before: String,
    /// [`Change::after`], as JSON text.
    pub after: String,
}

impl StoredChange {
    /// `change` as a store writes it, with the `id` it was given.
    pub(crate) fn of(change: &Change, id: i64) -> StoredChange {
        let (before, after) = change.stored_sides();
        StoredChange {
            id,
            environment: change.environment.clone(),
            version: change.version as i64,
            flag: change.flag.clone(),
            action: change.action.name().to_string(),
            command: change.command.clone(),
            author: change.author.clone(),
            via: change.via.name().to_string(),
            at: change.at,
            before,
            after,
        }
    }

    /// The entry, or an error naming the row that does not read.
    pub fn read(self, describe: &str) -> Result<Change> {
        let id = self.id;
        let bad = |what: String| Error::io(format!("{describe}: change-log entry {id}: {what}"));
        let side = |text: &str| {
            serde_json::from_str(text).map_err(|e| e.to_string()).and_then(|json| Recorded::from_json(&json))
        };
        Ok(Change {
            id,
            environment: self.environment,
            version: self.version as u64,
            flag: self.flag,
            action: Action::from_name(&self.action).ok_or_else(|| bad(format!("unknown action {:?}", self.action)))?,
            command: self.command,
            author: self.author,
            via: EntryPoint::from_name(&self.via).ok_or_else(|| bad(format!("unknown entry point {:?}", self.via)))?,
            at: self.at,
            before: side(&self.before).map_err(|e| bad(format!("before: {e}")))?,
            after: side(&self.after).map_err(|e| bad(format!("after: {e}")))?,
        })
    }
}

/// An API token as the database keeps it: its SHA-256, never the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// Its name: the author of every change made with it.
    pub name: String,
    /// SHA-256 of the token, hex.
    pub hash: String,
    /// The environments it may act on; `*` stands for every one but production.
    pub environments: Vec<String>,
    /// Read, or read and write.
    pub access: Access,
    /// When it was made (ms since the epoch).
    pub created_at: i64,
    /// When it stops working.
    pub expires_at: Option<i64>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
}

/// One announcement of a change to one sink, written in the transaction that committed the
/// change, marked delivered once the sink took it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxRow {
    /// Assigned by the store, increasing in commit order: the order deliveries keep.
    pub id: i64,
    /// The event's stable id, the same for every sink and every attempt.
    pub event: String,
    /// The sink's name.
    pub sink: String,
    /// The event, as JSON.
    pub payload: String,
    /// When it was committed (ms since the epoch).
    pub created_at: i64,
    /// Attempts so far.
    pub attempts: u32,
    /// Not before (ms since the epoch).
    pub next_attempt_at: i64,
    /// When the sink took it.
    pub delivered_at: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// One sink's deliveries, for `vexil notifications`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OutboxSummary {
    /// The sink.
    pub sink: String,
    /// Delivered.
    pub delivered: u64,
    /// Waiting to be delivered.
    pub pending: u64,
    /// Of those, how many have failed at least once.
    pub failing: u64,
    /// When the oldest waiting one was committed.
    pub oldest_pending_at: Option<i64>,
    /// When the next attempt is due.
    pub next_attempt_at: Option<i64>,
    /// Why the oldest waiting one's last attempt failed.
    pub last_error: Option<String>,
}

/// What `vexil log` asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Only this environment.
    pub environment: Option<String>,
    /// Only this flag.
    pub flag: Option<String>,
    /// Only changes with an id above this.
    pub after_id: Option<i64>,
    /// At most this many, newest first.
    pub limit: Option<usize>,
}

/// Reads and writes inside one transaction.
pub trait WriteTx {
    /// The newest version of `environment`, as of this transaction.
    fn latest(&mut self, environment: &str) -> Result<Option<VersionRow>>;
    /// Records a new version; its number must be one more than the latest.
    fn insert_version(&mut self, row: &VersionRow) -> Result<()>;
    /// Appends a change-log entry (its `id` is assigned), chained after the newest one and
    /// recording the snapshots of the version it names (inserted before it).
    fn insert_change(&mut self, change: &Change) -> Result<()>;
    /// The newest `n` change-log entries with their chain fields, oldest first.
    fn chain_tail(&mut self, n: usize) -> Result<Vec<ChainEntry>>;
    /// The snapshot digest the newest entry for `version` of `environment` recorded.
    fn recorded_snapshot(&mut self, environment: &str, version: u64) -> Result<Option<String>>;
    /// Versions of `environment` newer than `after`, oldest first.
    fn versions_after(&mut self, environment: &str, after: u64) -> Result<Vec<VersionRow>>;
    /// Version `version` of `environment`.
    fn version(&mut self, environment: &str, version: u64) -> Result<Option<VersionRow>>;
    /// Records that `version` is now a target's `latest.vxl`.
    fn set_pushed(&mut self, environment: &str, target: &str, version: u64) -> Result<()>;
    /// Every token ever made, as of this transaction.
    fn tokens(&mut self) -> Result<Vec<TokenRecord>>;
    /// Records a new token.
    fn insert_token(&mut self, token: &TokenRecord) -> Result<()>;
    /// Revokes the unrevoked tokens called `name`; returns how many.
    fn revoke_token(&mut self, name: &str, at: i64) -> Result<usize>;
    /// Adds an announcement to the outbox (its `id` is assigned).
    fn insert_outbox(&mut self, row: &OutboxRow) -> Result<()>;
    /// The oldest undelivered announcement for `sink`.
    fn outbox_next(&mut self, sink: &str) -> Result<Option<OutboxRow>>;
    /// Records an attempt's outcome: `attempts`, `next_attempt_at`, `delivered_at`,
    /// `last_error` of the row with `row.id`, unless it was delivered meanwhile.
    fn outbox_update(&mut self, row: &OutboxRow) -> Result<()>;
    /// Takes or renews `sink`'s delivery lease for `holder` until `until`, if nobody else
    /// holds it at `now`; returns whether `holder` holds it. One deliverer per sink at a
    /// time keeps deliveries in order.
    fn lease(&mut self, sink: &str, holder: &str, now: i64, until: i64) -> Result<bool>;
    /// The newest rollout of `flag`, as of this transaction.
    fn rollout_of(&mut self, flag: &str) -> Result<Option<RolloutRow>>;
    /// Records a new rollout (its `id` is assigned and returned).
    fn insert_rollout(&mut self, row: &RolloutRow) -> Result<i64>;
    /// Writes `row` over the rollout with its id if that is still at revision `expected`
    /// (the row's revision becomes `expected + 1`); returns whether it was. Several drivers
    /// racing: the first to commit moves, the others find the revision gone.
    fn update_rollout(&mut self, row: &RolloutRow, expected: i64) -> Result<bool>;
    /// Records an event of a rollout (its `id` is assigned).
    fn insert_rollout_event(&mut self, event: &RolloutEvent) -> Result<()>;
}

/// A state database.
pub trait Store {
    /// The newest version of `environment`.
    fn latest(&mut self, environment: &str) -> Result<Option<VersionRow>>;
    /// The newest version number of every environment that has one: a cheap question
    /// `vexil serve` asks often.
    fn heads(&mut self) -> Result<Vec<(String, u64)>>;
    /// Whether another connection may have committed since the last call: `vexil serve`
    /// asks this before `heads` when it polls. True when the store cannot tell cheaply.
    fn may_have_changed(&mut self) -> Result<bool> {
        Ok(true)
    }
    /// Version `version` of `environment`.
    fn version(&mut self, environment: &str, version: u64) -> Result<Option<VersionRow>>;
    /// Versions of `environment` newer than `after`, oldest first.
    fn versions_after(&mut self, environment: &str, after: u64) -> Result<Vec<VersionRow>>;
    /// Change-log entries, newest first.
    fn changes(&mut self, filter: &LogFilter) -> Result<Vec<Change>>;
    /// Every change-log entry as stored, with its chain fields, oldest first.
    fn chain(&mut self) -> Result<Vec<ChainEntry>>;
    /// Runs `work` in one transaction that holds the write lock from its start; commits
    /// if `work` succeeds, rolls back otherwise.
    fn write(&mut self, work: &mut dyn FnMut(&mut dyn WriteTx) -> Result<()>) -> Result<()>;
    /// Runs `work` holding the lock of one target, so that pushes to it happen one at a time
    /// and `latest.vxl` only moves forward. Object stores (Garage among them) ignore
    /// conditional writes, so the order comes from here, not from the store.
    fn with_target_lock(
        &mut self,
        environment: &str,
        target: &str,
        work: &mut dyn FnMut(&mut dyn WriteTx) -> Result<()>,
    ) -> Result<()>;
    /// Where the store is, for messages (never with a password).
    fn describe(&self) -> String;
    /// The version last pushed to a target as its `latest.vxl` (0: none), as recorded by
    /// the pushes themselves: what the target should hold even when it cannot be read.
    fn pushed(&mut self, environment: &str, target: &str) -> Result<u64>;
    /// Every version of every environment, oldest first (for `vexil migrate`).
    fn all_versions(&mut self) -> Result<Vec<VersionRow>>;
    /// Every token ever made (their hashes; the database never holds a token).
    fn tokens(&mut self) -> Result<Vec<TokenRecord>>;
    /// Each sink's deliveries.
    fn outbox_summary(&mut self) -> Result<Vec<OutboxSummary>>;
    /// Every announcement, delivered or not, oldest first (for `vexil migrate`).
    fn outbox_all(&mut self) -> Result<Vec<OutboxRow>>;
    /// Every rollout, oldest first.
    fn rollouts(&mut self) -> Result<Vec<RolloutRow>>;
    /// The events of `rollout` (none: of every rollout), oldest first.
    fn rollout_events(&mut self, rollout: Option<i64>) -> Result<Vec<RolloutEvent>>;
    /// Copies a whole state (ids kept) into an empty store, in one transaction.
    fn import(&mut self, copy: &StateCopy) -> Result<()>;
    /// The whole state, for `vexil migrate`.
    fn export(&mut self) -> Result<StateCopy> {
        let mut changes = self.changes(&LogFilter::default())?;
        changes.reverse();
        Ok(StateCopy {
            versions: self.all_versions()?,
            changes,
            tokens: self.tokens()?,
            outbox: self.outbox_all()?,
            rollouts: self.rollouts()?,
            rollout_events: self.rollout_events(None)?,
        })
    }
}

/// Everything a state database holds that outlives a process: what `vexil migrate` copies
/// (delivery leases are not: they lapse on their own).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StateCopy {
    /// Every version, oldest first.
    pub versions: Vec<VersionRow>,
    /// The change log, oldest first.
    pub changes: Vec<Change>,
    /// Every token.
    pub tokens: Vec<TokenRecord>,
    /// Every announcement, delivered or not.
    pub outbox: Vec<OutboxRow>,
    /// Every rollout.
    pub rollouts: Vec<RolloutRow>,
    /// Every rollout's events.
    pub rollout_events: Vec<RolloutEvent>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(action: &str, before: &str) -> StoredChange {
        StoredChange {
            id: 7,
            environment: "dev".into(),
            version: 2,
            flag: Some("f".into()),
            action: action.into(),
            command: "vexil feature set f true".into(),
            author: "a".into(),
            via: "cli".into(),
            at: 1,
            before: before.into(),
            after: r#"{"boolean":true,"actors":[],"opt_outs":[],"groups":[],"percentage_of_actors":"0","percentage_of_time":"0","expression":null}"#.into(),
        }
    }

    #[test]
    fn stored_changes_read_back_typed_or_name_the_bad_row() {
        let change = stored("enable", "null").read("db").unwrap();
        assert_eq!(change.action, Action::Enable);
        assert!(matches!(&change.after, Recorded::Gates(g) if g.boolean));
        let (before, after) = change.stored_sides();
        assert_eq!(before, "null");
        let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
        assert_eq!(json(&stored("enable", "null").after), json(&after), "what is written reads back as written");
        let e = stored("explode", "null").read("db").unwrap_err().to_string();
        assert!(e.contains("db: change-log entry 7: unknown action \"explode\""), "{e}");
        let e = stored("enable", "{oops").read("db").unwrap_err().to_string();
        assert!(e.contains("change-log entry 7: before:"), "{e}");
    }
}
