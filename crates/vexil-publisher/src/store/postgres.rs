//! PostgreSQL state, for teams: several machines and CI jobs sharing one database. The
//! semantics are SQLite's: every change is one transaction, and writers serialize on an
//! advisory lock taken when the transaction starts. Each new version is announced with
//! `NOTIFY vexil, '<environment> <version>'`, delivered at commit, for `vexil serve`.

use super::postgres_chain as chain;
use super::postgres_outbox as outbox;
use super::postgres_rollouts as rollouts;
use super::{
    ChainEntry, Change, LogFilter, OutboxRow, OutboxSummary, RolloutEvent, RolloutRow, StateCopy, Store, TokenRecord,
    VersionRow, WriteTx,
};
use crate::error::{Error, Result};
use postgres::{Client, GenericClient, Transaction};
use std::time::Duration;

use super::postgres_connect::{cause, connect, statement_timeout};
pub use super::postgres_connect::{redact, Listener};

/// The schema version this build writes; `vexil_schema` records the database's.
const SCHEMA_VERSION: i32 = 7;

const MIGRATIONS: [&str; 7] = [
    "CREATE TABLE versions (
        environment  text   NOT NULL,
        version      bigint NOT NULL,
        published_at bigint NOT NULL,
        author       text   NOT NULL,
        snapshot     bytea  NOT NULL,
        PRIMARY KEY (environment, version)
    );
    CREATE TABLE changes (
        id          bigserial PRIMARY KEY,
        environment text   NOT NULL,
        version     bigint NOT NULL,
        flag        text,
        action      text   NOT NULL,
        command     text   NOT NULL,
        author      text   NOT NULL,
        at          bigint NOT NULL,
        before      text   NOT NULL,
        after       text   NOT NULL
    );
    CREATE INDEX changes_by_flag ON changes (flag, id);",
    "CREATE TABLE pushes (
        environment text   NOT NULL,
        target      text   NOT NULL,
        version     bigint NOT NULL,
        PRIMARY KEY (environment, target)
    );",
    "ALTER TABLE versions ADD COLUMN browser_snapshot bytea;",
    "ALTER TABLE changes ADD COLUMN via text NOT NULL DEFAULT 'cli';
    CREATE TABLE tokens (
        id           bigserial PRIMARY KEY,
        name         text   NOT NULL,
        hash         text   NOT NULL UNIQUE,
        environments text   NOT NULL,
        access       text   NOT NULL,
        created_at   bigint NOT NULL,
        expires_at   bigint,
        revoked_at   bigint
    );",
    "CREATE TABLE outbox (
        id              bigserial PRIMARY KEY,
        event           text   NOT NULL,
        sink            text   NOT NULL,
        payload         text   NOT NULL,
        created_at      bigint NOT NULL,
        attempts        integer NOT NULL DEFAULT 0,
        next_attempt_at bigint NOT NULL,
        delivered_at    bigint,
        last_error      text
    );
    CREATE INDEX outbox_pending ON outbox (sink, delivered_at, id);
    CREATE TABLE outbox_leases (
        sink   text   PRIMARY KEY,
        holder text   NOT NULL,
        until  bigint NOT NULL
    );",
    "CREATE TABLE rollouts (
        id            bigserial PRIMARY KEY,
        flag          text    NOT NULL,
        plan          text    NOT NULL,
        status        text    NOT NULL,
        next_step     integer NOT NULL,
        started_at    bigint  NOT NULL,
        started_by    text    NOT NULL,
        wait_from     bigint  NOT NULL,
        approved_step integer,
        reason        text,
        last_check_at bigint,
        updated_at    bigint  NOT NULL,
        revision      bigint  NOT NULL
    );
    CREATE UNIQUE INDEX one_active_rollout ON rollouts (flag) WHERE status IN ('running', 'paused');
    CREATE TABLE rollout_events (
        id      bigserial PRIMARY KEY,
        rollout bigint  NOT NULL REFERENCES rollouts (id),
        at      bigint  NOT NULL,
        step    integer,
        kind    text    NOT NULL,
        author  text    NOT NULL,
        detail  text    NOT NULL
    );
    CREATE INDEX rollout_events_by_rollout ON rollout_events (rollout, id);",
    chain::SCHEMA_V7,
];

/// Advisory lock keys: (space, key) pairs no other application is likely to use.
const LOCK_SPACE: i32 = 0x7665_7869; // "vexi"
const WRITE_KEY: i32 = 0;
const MIGRATE_KEY: i32 = 1;
const TARGET_SPACE: i32 = LOCK_SPACE + 1;

/// The channel `vexil serve` listens on.
pub const CHANNEL: &str = "vexil";

/// A PostgreSQL state database.
pub struct PostgresStore {
    client: Client,
    describe: String,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`; the password may come from
    /// `VEXIL_DATABASE_PASSWORD` or `PGPASSWORD` instead of the URL), creating or migrating
    /// the schema. Writers wait up to `busy` for one another.
    pub fn open(url: &str, busy: Duration) -> Result<PostgresStore> {
        let (mut client, describe) = connect(url, statement_timeout(busy)?)?;
        client
            .batch_execute(&format!("SET lock_timeout = {}", busy.as_millis().max(1)))
            .map_err(|e| Error::io(format!("{describe}: {}", cause(&e))))?;
        let mut store = PostgresStore { client, describe };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<()> {
        // The common case, a current schema, costs one query; only a missing or older one
        // takes the migration lock.
        if let Ok(Some(row)) = self.client.query_opt("SELECT version FROM vexil_schema", &[]) {
            if row.get::<_, i32>(0) == SCHEMA_VERSION {
                return Ok(());
            }
        }
        let describe = self.describe.clone();
        let err = |e: postgres::Error| Error::io(format!("{describe}: {}", cause(&e)));
        let mut tx = self.client.transaction().map_err(err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1, $2)", &[&LOCK_SPACE, &MIGRATE_KEY]).map_err(err)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS vexil_schema (version integer NOT NULL)").map_err(err)?;
        let current: i32 =
            tx.query_opt("SELECT version FROM vexil_schema", &[]).map_err(err)?.map_or(0, |row| row.get(0));
        if current > SCHEMA_VERSION {
            return Err(Error::refused(format!(
                "{describe}: schema version {current} is newer than this vexil understands ({SCHEMA_VERSION}); upgrade vexil"
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            tx.batch_execute(sql).map_err(|e| Error::io(format!("{describe}: migration {}: {}", i + 1, cause(&e))))?;
        }
        if current < 7 {
            chain::chain_existing(&mut tx, &describe)?;
        }
        if current == 0 {
            tx.execute("INSERT INTO vexil_schema (version) VALUES ($1)", &[&SCHEMA_VERSION]).map_err(err)?;
        } else if current < SCHEMA_VERSION {
            tx.execute("UPDATE vexil_schema SET version = $1", &[&SCHEMA_VERSION]).map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    fn run_locked(&mut self, lock: (i32, i32), work: &mut dyn FnMut(&mut dyn WriteTx) -> Result<()>) -> Result<()> {
        let describe = self.describe.clone();
        let tx = self.client.transaction().map_err(|e| locked_or(&e, &describe))?;
        let mut t = PgTx { tx, describe: describe.clone() };
        t.tx.execute("SELECT pg_advisory_xact_lock($1, $2)", &[&lock.0, &lock.1])
            .map_err(|e| locked_or(&e, &describe))?;
        work(&mut t)?;
        t.tx.commit().map_err(|e| locked_or(&e, &describe))
    }
}

fn locked_or(e: &postgres::Error, describe: &str) -> Error {
    if e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) {
        return Error::io(format!("{describe} is locked by another vexil (lock timeout); try again"));
    }
    Error::io(format!("{describe}: {}", cause(e)))
}

fn to_version(row: &postgres::Row) -> VersionRow {
    VersionRow {
        environment: row.get(0),
        version: row.get::<_, i64>(1) as u64,
        published_at: row.get(2),
        author: row.get(3),
        snapshot: row.get(4),
        browser_snapshot: row.get(5),
    }
}

const VERSION_COLUMNS: &str = "environment, version, published_at, author, snapshot, browser_snapshot";

// Reads, for the store's connection and for a transaction alike.

fn latest_in(c: &mut impl GenericClient, describe: &str, environment: &str) -> Result<Option<VersionRow>> {
    let sql = format!("SELECT {VERSION_COLUMNS} FROM versions WHERE environment = $1 ORDER BY version DESC LIMIT 1");
    let row = c.query_opt(&sql, &[&environment]).map_err(|e| io(describe, &e))?;
    Ok(row.as_ref().map(to_version))
}

pub(super) fn version_in(
    c: &mut impl GenericClient,
    describe: &str,
    environment: &str,
    version: u64,
) -> Result<Option<VersionRow>> {
    let sql = format!("SELECT {VERSION_COLUMNS} FROM versions WHERE environment = $1 AND version = $2");
    let row = c.query_opt(&sql, &[&environment, &(version as i64)]).map_err(|e| io(describe, &e))?;
    Ok(row.as_ref().map(to_version))
}

fn versions_after_in(
    c: &mut impl GenericClient,
    describe: &str,
    environment: &str,
    after: u64,
) -> Result<Vec<VersionRow>> {
    let sql =
        format!("SELECT {VERSION_COLUMNS} FROM versions WHERE environment = $1 AND version > $2 ORDER BY version");
    let rows = c.query(&sql, &[&environment, &(after as i64)]).map_err(|e| io(describe, &e))?;
    Ok(rows.iter().map(to_version).collect())
}

const TOKEN_COLUMNS: &str = "name, hash, environments, access, created_at, expires_at, revoked_at";

fn tokens_in(c: &mut impl GenericClient, describe: &str) -> Result<Vec<TokenRecord>> {
    let rows =
        c.query(&format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY id"), &[]).map_err(|e| io(describe, &e))?;
    rows.iter()
        .map(|r| {
            let access: String = r.get(3);
            Ok(TokenRecord {
                name: r.get(0),
                hash: r.get(1),
                environments: crate::tokens::environments_from_text(r.get(2)),
                access: crate::tokens::Access::from_name(&access).ok_or_else(|| {
                    Error::io(format!("{describe}: token access {access:?} is neither read nor write"))
                })?,
                created_at: r.get(4),
                expires_at: r.get(5),
                revoked_at: r.get(6),
            })
        })
        .collect()
}

fn insert_token_in(c: &mut impl GenericClient, describe: &str, t: &TokenRecord) -> Result<()> {
    c.execute(
        &format!("INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
        &[&t.name, &t.hash, &t.environments.join(","), &t.access.name(), &t.created_at, &t.expires_at, &t.revoked_at],
    )
    .map_err(|e| io(describe, &e))?;
    Ok(())
}

pub(super) fn io(describe: &str, e: &postgres::Error) -> Error {
    Error::io(format!("{describe}: {}", cause(e)))
}

struct PgTx<'a> {
    tx: Transaction<'a>,
    describe: String,
}

impl WriteTx for PgTx<'_> {
    fn latest(&mut self, environment: &str) -> Result<Option<VersionRow>> {
        latest_in(&mut self.tx, &self.describe, environment)
    }

    fn insert_version(&mut self, row: &VersionRow) -> Result<()> {
        let sql = format!("INSERT INTO versions ({VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)");
        let version = row.version as i64;
        self.tx
            .execute(
                &sql,
                &[&row.environment, &version, &row.published_at, &row.author, &row.snapshot, &row.browser_snapshot],
            )
            .map_err(|e| io(&self.describe, &e))?;
        // Delivered when the transaction commits, never for one that rolls back.
        let payload = format!("{} {}", row.environment, row.version);
        self.tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]).map_err(|e| io(&self.describe, &e))?;
        Ok(())
    }

    fn insert_change(&mut self, c: &Change) -> Result<()> {
        chain::insert(&mut self.tx, &self.describe, c)
    }

    fn chain_tail(&mut self, n: usize) -> Result<Vec<ChainEntry>> {
        chain::tail(&mut self.tx, &self.describe, n)
    }

    fn recorded_snapshot(&mut self, environment: &str, version: u64) -> Result<Option<String>> {
        chain::recorded(&mut self.tx, &self.describe, environment, version)
    }

    fn tokens(&mut self) -> Result<Vec<TokenRecord>> {
        tokens_in(&mut self.tx, &self.describe)
    }

    fn insert_token(&mut self, token: &TokenRecord) -> Result<()> {
        insert_token_in(&mut self.tx, &self.describe, token)
    }

    fn insert_outbox(&mut self, r: &OutboxRow) -> Result<()> {
        outbox::insert(&mut self.tx, &self.describe, r, false)
    }

    fn outbox_next(&mut self, sink: &str) -> Result<Option<OutboxRow>> {
        outbox::next(&mut self.tx, &self.describe, sink)
    }

    fn outbox_update(&mut self, r: &OutboxRow) -> Result<()> {
        outbox::update(&mut self.tx, &self.describe, r)
    }

    fn lease(&mut self, sink: &str, holder: &str, now: i64, until: i64) -> Result<bool> {
        outbox::lease(&mut self.tx, &self.describe, sink, holder, now, until)
    }

    fn rollout_of(&mut self, flag: &str) -> Result<Option<RolloutRow>> {
        rollouts::newest_of(&mut self.tx, &self.describe, flag)
    }

    fn insert_rollout(&mut self, row: &RolloutRow) -> Result<i64> {
        rollouts::insert(&mut self.tx, &self.describe, row, false)
    }

    fn update_rollout(&mut self, row: &RolloutRow, expected: i64) -> Result<bool> {
        rollouts::update(&mut self.tx, &self.describe, row, expected)
    }

    fn insert_rollout_event(&mut self, event: &RolloutEvent) -> Result<()> {
        rollouts::insert_event(&mut self.tx, &self.describe, event, false)
    }

    fn revoke_token(&mut self, name: &str, at: i64) -> Result<usize> {
        let n = self
            .tx
            .execute("UPDATE tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL", &[&name, &at])
            .map_err(|e| io(&self.describe, &e))?;
        Ok(n as usize)
    }

    fn versions_after(&mut self, environment: &str, after: u64) -> Result<Vec<VersionRow>> {
        versions_after_in(&mut self.tx, &self.describe, environment, after)
    }

    fn version(&mut self, environment: &str, version: u64) -> Result<Option<VersionRow>> {
        version_in(&mut self.tx, &self.describe, environment, version)
    }

    fn set_pushed(&mut self, environment: &str, target: &str, version: u64) -> Result<()> {
        let version = version as i64;
        self.tx
            .execute(
                "INSERT INTO pushes (environment, target, version) VALUES ($1, $2, $3)
                 ON CONFLICT (environment, target) DO UPDATE SET version = excluded.version",
                &[&environment, &target, &version],
            )
            .map_err(|e| io(&self.describe, &e))?;
        Ok(())
    }
}

impl Store for PostgresStore {
    fn latest(&mut self, environment: &str) -> Result<Option<VersionRow>> {
        latest_in(&mut self.client, &self.describe, environment)
    }

    fn heads(&mut self) -> Result<Vec<(String, u64)>> {
        let rows = self
            .client
            .query("SELECT environment, max(version) FROM versions GROUP BY environment", &[])
            .map_err(|e| io(&self.describe, &e))?;
        Ok(rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64)).collect())
    }

    fn version(&mut self, environment: &str, version: u64) -> Result<Option<VersionRow>> {
        version_in(&mut self.client, &self.describe, environment, version)
    }

    fn versions_after(&mut self, environment: &str, after: u64) -> Result<Vec<VersionRow>> {
        versions_after_in(&mut self.client, &self.describe, environment, after)
    }

    fn changes(&mut self, filter: &LogFilter) -> Result<Vec<Change>> {
        let limit = filter.limit.map_or(i64::MAX, |l| l as i64);
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT {} FROM changes
                     WHERE ($1::text IS NULL OR environment = $1) AND ($2::text IS NULL OR flag = $2) AND ($3::bigint IS NULL OR id > $3)
                     ORDER BY id DESC LIMIT $4",
                    chain::CHANGE_COLUMNS
                ),
                &[&filter.environment, &filter.flag, &filter.after_id, &limit],
            )
            .map_err(|e| io(&self.describe, &e))?;
        rows.iter().map(|r| chain::stored_change(r).read(&self.describe)).collect()
    }

    fn chain(&mut self) -> Result<Vec<ChainEntry>> {
        chain::all(&mut self.client, &self.describe)
    }

    fn write(&mut self, work: &mut dyn FnMut(&mut dyn WriteTx) -> Result<()>) -> Result<()> {
        self.run_locked((LOCK_SPACE, WRITE_KEY), work)
    }

    fn with_target_lock(
        &mut self,
        environment: &str,
        target: &str,
        work: &mut dyn FnMut(&mut dyn WriteTx) -> Result<()>,
    ) -> Result<()> {
        let key = vexil_core::crc32(format!("{environment}\0{target}").as_bytes()) as i32;
        self.run_locked((TARGET_SPACE, key), work)
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn pushed(&mut self, environment: &str, target: &str) -> Result<u64> {
        let row = self
            .client
            .query_opt("SELECT version FROM pushes WHERE environment = $1 AND target = $2", &[&environment, &target])
            .map_err(|e| Error::io(format!("{}: {}", self.describe, cause(&e))))?;
        Ok(row.map_or(0, |r| r.get::<_, i64>(0) as u64))
    }

    fn all_versions(&mut self) -> Result<Vec<VersionRow>> {
        let sql = format!("SELECT {VERSION_COLUMNS} FROM versions ORDER BY environment, version");
        let rows = self.client.query(&sql, &[]).map_err(|e| Error::io(format!("{}: {}", self.describe, cause(&e))))?;
        Ok(rows.iter().map(to_version).collect())
    }

    fn tokens(&mut self) -> Result<Vec<TokenRecord>> {
        tokens_in(&mut self.client, &self.describe)
    }

    fn outbox_summary(&mut self) -> Result<Vec<OutboxSummary>> {
        outbox::summary(&mut self.client, &self.describe)
    }

    fn outbox_all(&mut self) -> Result<Vec<OutboxRow>> {
        outbox::all(&mut self.client, &self.describe)
    }

    fn rollouts(&mut self) -> Result<Vec<RolloutRow>> {
        rollouts::all(&mut self.client, &self.describe)
    }

    fn rollout_events(&mut self, rollout: Option<i64>) -> Result<Vec<RolloutEvent>> {
        rollouts::events(&mut self.client, &self.describe, rollout)
    }

    fn import(&mut self, copy: &StateCopy) -> Result<()> {
        let describe = self.describe.clone();
        let err = |e: postgres::Error| Error::io(format!("{describe}: {}", cause(&e)));
        let mut tx = self.client.transaction().map_err(err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1, $2)", &[&LOCK_SPACE, &WRITE_KEY]).map_err(err)?;
        let existing: i64 = tx.query_one("SELECT count(*) FROM versions", &[]).map_err(err)?.get(0);
        if existing > 0 {
            return Err(Error::refused(format!(
                "{describe} already holds {existing} versions; migrate into an empty database"
            )));
        }
        let sql = format!("INSERT INTO versions ({VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)");
        let insert = tx.prepare(&sql).map_err(err)?;
        for v in &copy.versions {
            let version = v.version as i64;
            tx.execute(
                &insert,
                &[&v.environment, &version, &v.published_at, &v.author, &v.snapshot, &v.browser_snapshot],
            )
            .map_err(err)?;
        }
        let insert = tx
            .prepare(
                "INSERT INTO changes (id, environment, version, flag, action, command, author, via, at, before, after)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .map_err(err)?;
        for c in &copy.changes {
            let version = c.version as i64;
            let (before, after) = c.stored_sides();
            tx.execute(
                &insert,
                &[
                    &c.id,
                    &c.environment,
                    &version,
                    &c.flag,
                    &c.action.name(),
                    &c.command,
                    &c.author,
                    &c.via.name(),
                    &c.at,
                    &before,
                    &after,
                ],
            )
            .map_err(err)?;
        }
        tx.batch_execute(
            "SELECT setval(pg_get_serial_sequence('changes', 'id'), GREATEST((SELECT max(id) FROM changes), 1))",
        )
        .map_err(err)?;
        // The source's chain was verified before the copy; the copy is chained anew over the
        // same entries and versions.
        chain::chain_existing(&mut tx, &describe)?;
        for t in &copy.tokens {
            insert_token_in(&mut tx, &describe, t)?;
        }
        for r in &copy.outbox {
            outbox::insert(&mut tx, &describe, r, true)?;
        }
        for r in &copy.rollouts {
            rollouts::insert(&mut tx, &describe, r, true)?;
        }
        for e in &copy.rollout_events {
            rollouts::insert_event(&mut tx, &describe, e, true)?;
        }
        rollouts::continue_ids(&mut tx, &describe)?;
        tx.batch_execute(
            "SELECT setval(pg_get_serial_sequence('outbox', 'id'), GREATEST((SELECT max(id) FROM outbox), 1))",
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }
}
