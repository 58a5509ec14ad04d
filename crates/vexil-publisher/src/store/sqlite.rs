//! The embedded store: one SQLite file in the project, in WAL mode. `BEGIN IMMEDIATE` takes
//! the write lock when a transaction starts, so concurrent writers queue (up to the busy
//! timeout) instead of failing half-way.

use super::sqlite_chain as chain;
use super::sqlite_outbox as outbox;
use super::sqlite_rollouts as rollouts;
use super::{
    ChainEntry, Change, LogFilter, OutboxRow, OutboxSummary, RolloutEvent, RolloutRow, StateCopy, Store, TokenRecord,
    VersionRow, WriteTx,
};
use crate::error::{Error, ErrorContext, Result};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The schema version this build writes. Older databases are migrated forward.
const SCHEMA_VERSION: i64 = 7;

const SCHEMA_V1: &str = "
CREATE TABLE versions (
    environment  TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    published_at INTEGER NOT NULL,
    author       TEXT    NOT NULL,
    snapshot     BLOB    NOT NULL,
    PRIMARY KEY (environment, version)
);
CREATE TABLE changes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    environment TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    flag        TEXT,
    action      TEXT    NOT NULL,
    command     TEXT    NOT NULL,
    author      TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    before      TEXT    NOT NULL,
    after       TEXT    NOT NULL
);
CREATE INDEX changes_by_flag ON changes (flag, id);
";

/// Version 2: what each target last took as `latest.vxl`, for ordering pushes.
const SCHEMA_V2: &str = "
CREATE TABLE pushes (
    environment TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    PRIMARY KEY (environment, target)
);
";

/// Version 3: each version's browser snapshot, made when it is committed.
const SCHEMA_V3: &str = "ALTER TABLE versions ADD COLUMN browser_snapshot BLOB;";

/// Version 4: which entry point made each change, and API tokens (their hashes only).
const SCHEMA_V4: &str = "
ALTER TABLE changes ADD COLUMN via TEXT NOT NULL DEFAULT 'cli';
CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL,
    hash         TEXT    NOT NULL UNIQUE,
    environments TEXT    NOT NULL,
    access       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER
);
";

/// Version 5: the outbox of change announcements, and who is delivering to each sink.
const SCHEMA_V5: &str = "
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event           TEXT    NOT NULL,
    sink            TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    last_error      TEXT
);
CREATE INDEX outbox_pending ON outbox (sink, delivered_at, id);
CREATE TABLE outbox_leases (
    sink   TEXT    PRIMARY KEY,
    holder TEXT    NOT NULL,
    until  INTEGER NOT NULL
);
";

/// Version 6: rollouts, and the evidence of each of their decisions.
const SCHEMA_V6: &str = "
CREATE TABLE rollouts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    flag          TEXT    NOT NULL,
    plan          TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    next_step     INTEGER NOT NULL,
    started_at    INTEGER NOT NULL,
    started_by    TEXT    NOT NULL,
    wait_from     INTEGER NOT NULL,
    approved_step INTEGER,
    reason        TEXT,
    last_check_at INTEGER,
    updated_at    INTEGER NOT NULL,
    revision      INTEGER NOT NULL
);
CREATE UNIQUE INDEX one_active_rollout ON rollouts (flag) WHERE status IN ('running', 'paused');
CREATE TABLE rollout_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    rollout INTEGER NOT NULL REFERENCES rollouts (id),
    at      INTEGER NOT NULL,
    step    INTEGER,
    kind    TEXT    NOT NULL,
    author  TEXT    NOT NULL,
    detail  TEXT    NOT NULL
);
CREATE INDEX rollout_events_by_rollout ON rollout_events (rollout, id);
";

/// An SQLite state database.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    busy: Duration,
    /// `PRAGMA data_version` when last asked: it moves only when another connection commits.
    data_version: Option<i64>,
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the database at `path`. Writers wait up to
    /// `busy` for one another.
    pub fn open(path: &Path, busy: Duration) -> Result<SqliteStore> {
        // A missing file is lost state, not a new project: an empty database would restart
        // every environment at v1 under the versions clients already hold.
        if !path.is_file() {
            return Err(Error::refused(format!(
                "state database {} does not exist; restore it, or `vexil init` a new project",
                path.display()
            )));
        }
        SqliteStore::open_or_create(path, busy)
    }

    /// Creates the database (for `vexil init`), or opens the one there.
    pub fn create(path: &Path, busy: Duration) -> Result<SqliteStore> {
        let describe = || format!("state database {}", path.display());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).context(format!("{}: cannot create {}", describe(), dir.display()))?;
        }
        SqliteStore::open_or_create(path, busy)
    }

    fn open_or_create(path: &Path, busy: Duration) -> Result<SqliteStore> {
        let describe = || format!("state database {}", path.display());
        let conn = Connection::open(path).context(describe())?;
        conn.busy_timeout(busy).context(describe())?;
        // WAL lets readers (vexil serve, status) proceed while a writer commits.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| locked_or(e, &describe(), busy))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::io(format!("{}: cannot switch to WAL journal (got {mode})", describe())));
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;").context(describe())?;
        let mut store = SqliteStore { conn, path: path.to_path_buf(), busy, data_version: None };
        store.migrate()?;
        Ok(store)
    }

    fn schema_version(&self) -> Result<i64> {
        let describe = self.describe();
        self.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| locked_or(e, &describe, self.busy))
    }

    /// Brings the schema to `SCHEMA_VERSION`. Opening an up-to-date database writes nothing,
    /// so read-only commands never wait for writers nor touch the file.
    fn migrate(&mut self) -> Result<()> {
        let describe = self.describe();
        let current = self.schema_version()?;
        if current > SCHEMA_VERSION {
            return Err(Error::refused(format!(
                "{describe}: schema version {current} is newer than this vexil understands ({SCHEMA_VERSION}); upgrade vexil"
            )));
        }
        if current == SCHEMA_VERSION {
            return Ok(());
        }
        let busy = self.busy;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| locked_or(e, &describe, busy))?;
        // Another process may have migrated while we waited for the lock.
        let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).context(&describe)?;
        if current < 1 {
            tx.execute_batch(SCHEMA_V1).context(&describe)?;
        }
        if current < 2 {
            tx.execute_batch(SCHEMA_V2).context(&describe)?;
        }
        if current < 3 {
            tx.execute_batch(SCHEMA_V3).context(&describe)?;
        }
        if current < 4 {
            tx.execute_batch(SCHEMA_V4).context(&describe)?;
        }
        if current < 5 {
            tx.execute_batch(SCHEMA_V5).context(&describe)?;
        }
        if current < 6 {
            tx.execute_batch(SCHEMA_V6).context(&describe)?;
        }
        if current < 7 {
            tx.execute_batch(chain::SCHEMA_V7).context(&describe)?;
            chain::chain_existing(&tx, &describe)?;
        }
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}")).context(&describe)?;
        tx.commit().map_err(|e| locked_or(e, &describe, busy))
    }
}

fn locked_or(e: rusqlite::Error, what: &str, busy: Duration) -> Error {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) {
            return Error::io(format!(
                "{what} is locked by another process (waited {:.1}s); try again",
                busy.as_secs_f64()
            ));
        }
    }
    Error::io(format!("{what}: {e}"))
}

fn row_to_version(r: &rusqlite::Row<'_>) -> rusqlite::Result<VersionRow> {
    Ok(VersionRow {
        environment: r.get(0)?,
        version: r.get::<_, i64>(1)? as u64,
        published_at: r.get(2)?,
        author: r.get(3)?,
        snapshot: r.get(4)?,
        browser_snapshot: r.get(5)?,
    })
}

const VERSION_COLUMNS: &str = "environment, version, published_at, author, snapshot, browser_snapshot";

fn versions_after_in(conn: &Connection, environment: &str, after: u64) -> rusqlite::Result<Vec<VersionRow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {VERSION_COLUMNS} FROM versions WHERE environment = ?1 AND version > ?2 ORDER BY version"
    ))?;
    let rows = stmt.query_map(params![environment, after as i64], row_to_version)?;
    rows.collect()
}

pub(super) fn version_in(conn: &Connection, environment: &str, version: u64) -> rusqlite::Result<Option<VersionRow>> {
    conn.query_row(
        &format!("SELECT {VERSION_COLUMNS} FROM versions WHERE environment = ?1 AND version = ?2"),
        params![environment, version as i64],
        row_to_version,
    )
    .optional()
}

const TOKEN_COLUMNS: &str = "name, hash, environments, access, created_at, expires_at, revoked_at";

fn tokens_in(conn: &Connection) -> rusqlite::Result<Vec<TokenRecord>> {
    let mut stmt = conn.prepare(&format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY id"))?;
    let rows = stmt.query_map([], |r| {
        let environments: String = r.get(2)?;
        let access: String = r.get(3)?;
        Ok(TokenRecord {
            name: r.get(0)?,
            hash: r.get(1)?,
            environments: crate::tokens::environments_from_text(&environments),
            access: crate::tokens::Access::from_name(&access).ok_or_else(|| {
                let why = format!("token access {access:?} is neither read nor write");
                rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, why.into())
            })?,
            created_at: r.get(4)?,
            expires_at: r.get(5)?,
            revoked_at: r.get(6)?,
        })
    })?;
    rows.collect()
}

fn latest_in(conn: &Connection, environment: &str) -> rusqlite::Result<Option<VersionRow>> {
    conn.query_row(
        &format!("SELECT {VERSION_COLUMNS} FROM versions WHERE environment = ?1 ORDER BY version DESC LIMIT 1"),
        params![environment],
        row_to_version,
    )
    .optional()
}

struct Tx<'a> {
    tx: rusqlite::Transaction<'a>,
    describe: String,
}

impl WriteTx for Tx<'_> {
    fn latest(&mut self, environment: &str) -> Result<Option<VersionRow>> {
        latest_in(&self.tx, environment).context(&self.describe)
    }

    fn versions_after(&mut self, environment: &str, after: u64) -> Result<Vec<VersionRow>> {
        versions_after_in(&self.tx, environment, after).context(&self.describe)
    }

    fn version(&mut self, environment: &str, version: u64) -> Result<Option<VersionRow>> {
        version_in(&self.tx, environment, version).context(&self.describe)
    }

    fn set_pushed(&mut self, environment: &str, target: &str, version: u64) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO pushes (environment, target, version) VALUES (?1, ?2, ?3)
                 ON CONFLICT (environment, target) DO UPDATE SET version = excluded.version",
                params![environment, target, version as i64],
            )
            .context(&self.describe)?;
        Ok(())
    }

    fn insert_version(&mut self, row: &VersionRow) -> Result<()> {
        self.tx
            .execute(
                &format!("INSERT INTO versions ({VERSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
                params![
                    row.environment,
                    row.version as i64,
                    row.published_at,
                    row.author,
                    row.snapshot,
                    row.browser_snapshot
                ],
            )
            .context(&self.describe)?;
        Ok(())
    }

    fn insert_change(&mut self, c: &Change) -> Result<()> {
        chain::insert(&self.tx, &self.describe, c)
    }

    fn chain_tail(&mut self, n: usize) -> Result<Vec<ChainEntry>> {
        chain::tail(&self.tx, &self.describe, n)
    }

    fn recorded_snapshot(&mut self, environment: &str, version: u64) -> Result<Option<String>> {
        chain::recorded(&self.tx, &self.describe, environment, version)
    }

    fn tokens(&mut self) -> Result<Vec<TokenRecord>> {
        tokens_in(&self.tx).context(&self.describe)
    }

    fn insert_token(&mut self, t: &TokenRecord) -> Result<()> {
        self.tx
            .execute(
                &format!("INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                params![
                    t.name,
                    t.hash,
                    t.environments.join(","),
                    t.access.name(),
                    t.created_at,
                    t.expires_at,
                    t.revoked_at
                ],
            )
            .context(&self.describe)?;
        Ok(())
    }

    fn revoke_token(&mut self, name: &str, at: i64) -> Result<usize> {
        self.tx
            .execute("UPDATE tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL", params![name, at])
            .context(&self.describe)
    }

    fn insert_outbox(&mut self, r: &OutboxRow) -> Result<()> {
        outbox::insert(&self.tx, &self.describe, r, false)
    }

    fn outbox_next(&mut self, sink: &str) -> Result<Option<OutboxRow>> {
        outbox::next(&self.tx, &self.describe, sink)
    }

    fn outbox_update(&mut self, r: &OutboxRow) -> Result<()> {
        outbox::update(&self.tx, &self.describe, r)
    }

    fn lease(&mut self, sink: &str, holder: &str, now: i64, until: i64) -> Result<bool> {
        outbox::lease(&self.tx, &self.describe, sink, holder, now, until)
    }

    fn rollout_of(&mut self, flag: &str) -> Result<Option<RolloutRow>> {
        rollouts::newest_of(&self.tx, &self.describe, flag)
    }

    fn insert_rollout(&mut self, row: &RolloutRow) -> Result<i64> {
        rollouts::insert(&self.tx, &self.describe, row, false)
    }

    fn update_rollout(&mut self, row: &RolloutRow, expected: i64) -> Result<bool> {
        rollouts::update(&self.tx, &self.describe, row, expected)
    }

    fn insert_rollout_event(&mut self, event: &RolloutEvent) -> Result<()> {
        rollouts::insert_event(&self.tx, &self.describe, event, false)
    }
}

impl Store for SqliteStore {
    fn latest(&mut self, environment: &str) -> Result<Option<VersionRow>> {
        latest_in(&self.conn, environment).context(self.describe())
    }

    fn may_have_changed(&mut self) -> Result<bool> {
        // Reads no table: far cheaper than `heads` for a server polling every few ms.
        let describe = self.describe();
        let now: i64 = self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(|e| locked_or(e, &describe, self.busy))?;
        Ok(self.data_version.replace(now) != Some(now))
    }

    fn heads(&mut self) -> Result<Vec<(String, u64)>> {
        let describe = self.describe();
        let mut statement = self
            .conn
            .prepare_cached("SELECT environment, max(version) FROM versions GROUP BY environment")
            .context(&describe)?;
        let rows = statement.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)));
        rows.and_then(Iterator::collect).map_err(|e| locked_or(e, &describe, self.busy))
    }

    fn version(&mut self, environment: &str, version: u64) -> Result<Option<VersionRow>> {
        version_in(&self.conn, environment, version).context(self.describe())
    }

    fn versions_after(&mut self, environment: &str, after: u64) -> Result<Vec<VersionRow>> {
        versions_after_in(&self.conn, environment, after).context(self.describe())
    }

    fn changes(&mut self, filter: &LogFilter) -> Result<Vec<Change>> {
        let describe = self.describe();
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {} FROM changes
                     WHERE (?1 IS NULL OR environment = ?1) AND (?2 IS NULL OR flag = ?2) AND (?3 IS NULL OR id > ?3)
                     ORDER BY id DESC LIMIT ?4",
                chain::CHANGE_COLUMNS
            ))
            .context(&describe)?;
        let limit = filter.limit.map_or(-1, |l| l as i64);
        let mut rows =
            stmt.query(params![filter.environment, filter.flag, filter.after_id, limit]).context(&describe)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().context(&describe)? {
            let stored = chain::stored_change(r).context(&describe)?;
            out.push(stored.read(&describe)?);
        }
        Ok(out)
    }

    fn chain(&mut self) -> Result<Vec<ChainEntry>> {
        chain::all(&self.conn, &self.describe())
    }

    fn write(&mut self, work: &mut dyn FnMut(&mut dyn WriteTx) -> Result<()>) -> Result<()> {
        let describe = self.describe();
        let busy = self.busy;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| locked_or(e, &describe, busy))?;
        let mut t = Tx { tx, describe: describe.clone() };
        work(&mut t)?;
        t.tx.commit().map_err(|e| locked_or(e, &describe, busy))
    }

    fn with_target_lock(
        &mut self,
        _environment: &str,
        _target: &str,
        work: &mut dyn FnMut(&mut dyn WriteTx) -> Result<()>,
    ) -> Result<()> {
        // SQLite has one write lock; pushes hold it briefly, and no finer lock is needed.
        self.write(work)
    }

    fn describe(&self) -> String {
        format!("state database {}", self.path.display())
    }

    fn pushed(&mut self, environment: &str, target: &str) -> Result<u64> {
        self.conn
            .query_row(
                "SELECT version FROM pushes WHERE environment = ?1 AND target = ?2",
                params![environment, target],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|v| v.unwrap_or(0) as u64)
            .context(self.describe())
    }

    fn all_versions(&mut self) -> Result<Vec<VersionRow>> {
        let describe = self.describe();
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {VERSION_COLUMNS} FROM versions ORDER BY environment, version"))
            .context(&describe)?;
        let rows = stmt.query_map([], row_to_version).context(&describe)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().context(&describe)
    }

    fn tokens(&mut self) -> Result<Vec<TokenRecord>> {
        tokens_in(&self.conn).context(self.describe())
    }

    fn outbox_summary(&mut self) -> Result<Vec<OutboxSummary>> {
        outbox::summary(&self.conn, &self.describe())
    }

    fn outbox_all(&mut self) -> Result<Vec<OutboxRow>> {
        outbox::all(&self.conn, &self.describe())
    }

    fn rollouts(&mut self) -> Result<Vec<RolloutRow>> {
        rollouts::all(&self.conn, &self.describe())
    }

    fn rollout_events(&mut self, rollout: Option<i64>) -> Result<Vec<RolloutEvent>> {
        rollouts::events(&self.conn, &self.describe(), rollout)
    }

    fn import(&mut self, copy: &StateCopy) -> Result<()> {
        let _ = copy;
        Err(Error::refused(format!(
            "{}: vexil migrate moves SQLite state to PostgreSQL, not into SQLite",
            self.describe()
        )))
    }
}
