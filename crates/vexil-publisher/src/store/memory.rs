//! State in memory, for tests of the planning layer's shell and of everything above the
//! store: the same transactional contract as the databases (a write sees a consistent state
//! and commits whole or not at all; writers serialize), without a file or a server. Clones
//! share one state, as two connections to one database do.

use super::{
    chain, ChainEntry, Change, LogFilter, OutboxRow, OutboxSummary, RolloutEvent, RolloutRow, StateCopy, Store,
    TokenRecord, VersionRow, WriteTx,
};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// An in-memory state database.
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    /// Commits seen by `may_have_changed`.
    seen: Option<u64>,
}

#[derive(Clone, Default)]
struct State {
    versions: BTreeMap<(String, u64), VersionRow>,
    changes: Vec<Change>,
    /// `changes` as stored, with their chain fields.
    chain: Vec<ChainEntry>,
    pushes: BTreeMap<(String, String), u64>,
    tokens: Vec<TokenRecord>,
    outbox: Vec<OutboxRow>,
    leases: BTreeMap<String, (String, i64)>,
    rollouts: Vec<RolloutRow>,
    rollout_events: Vec<RolloutEvent>,
    commits: u64,
}

impl State {
    fn latest(&self, environment: &str) -> Option<VersionRow> {
        self.versions_of(environment).next_back().cloned()
    }

    fn versions_of<'a>(&'a self, environment: &'a str) -> impl DoubleEndedIterator<Item = &'a VersionRow> + 'a {
        self.versions.range((environment.to_string(), 0)..=(environment.to_string(), u64::MAX)).map(|(_, v)| v)
    }
}

impl State {
    fn append(&mut self, stored: super::StoredChange) {
        let version = self.versions.get(&(stored.environment.clone(), stored.version as u64));
        let (snapshot_sha256, prev, hash) =
            chain::link(self.chain.last().and_then(|e| e.hash.as_deref()), &stored, version);
        self.chain.push(ChainEntry { stored, snapshot_sha256, prev_hash: Some(prev), hash: Some(hash) });
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while writing leaves nothing half-done: writes go to a copy.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl WriteTx for State {
    fn latest(&mut self, environment: &str) -> Result<Option<VersionRow>> {
        Ok(State::latest(self, environment))
    }

    fn insert_version(&mut self, row: &VersionRow) -> Result<()> {
        let next = State::latest(self, &row.environment).map_or(1, |r| r.version + 1);
        if row.version != next {
            return Err(Error::io(format!(
                "memory store: version {} of {} is not the next one ({next})",
                row.version, row.environment
            )));
        }
        self.versions.insert((row.environment.clone(), row.version), row.clone());
        Ok(())
    }

    fn insert_change(&mut self, change: &Change) -> Result<()> {
        let id = self.changes.last().map_or(1, |c| c.id + 1);
        self.changes.push(Change { id, ..change.clone() });
        self.append(super::StoredChange::of(change, id));
        Ok(())
    }

    fn chain_tail(&mut self, n: usize) -> Result<Vec<ChainEntry>> {
        Ok(self.chain[self.chain.len().saturating_sub(n)..].to_vec())
    }

    fn recorded_snapshot(&mut self, environment: &str, version: u64) -> Result<Option<String>> {
        let newest =
            self.chain.iter().rev().find(|e| e.stored.environment == environment && e.stored.version == version as i64);
        Ok(newest.and_then(|e| e.snapshot_sha256.clone()))
    }

    fn versions_after(&mut self, environment: &str, after: u64) -> Result<Vec<VersionRow>> {
        Ok(self.versions_of(environment).filter(|v| v.version > after).cloned().collect())
    }

    fn version(&mut self, environment: &str, version: u64) -> Result<Option<VersionRow>> {
        Ok(self.versions.get(&(environment.to_string(), version)).cloned())
    }

    fn set_pushed(&mut self, environment: &str, target: &str, version: u64) -> Result<()> {
        self.pushes.insert((environment.to_string(), target.to_string()), version);
        Ok(())
    }

    fn tokens(&mut self) -> Result<Vec<TokenRecord>> {
        Ok(self.tokens.clone())
    }

    fn insert_token(&mut self, token: &TokenRecord) -> Result<()> {
        if self.tokens.iter().any(|t| t.hash == token.hash) {
            return Err(Error::io("memory store: a token with this hash exists"));
        }
        self.tokens.push(token.clone());
        Ok(())
    }

    fn revoke_token(&mut self, name: &str, at: i64) -> Result<usize> {
        let mut n = 0;
        for t in self.tokens.iter_mut().filter(|t| t.name == name && t.revoked_at.is_none()) {
            t.revoked_at = Some(at);
            n += 1;
        }
        Ok(n)
    }

    fn insert_outbox(&mut self, row: &OutboxRow) -> Result<()> {
        let id = self.outbox.last().map_or(1, |r| r.id + 1);
        self.outbox.push(OutboxRow { id, ..row.clone() });
        Ok(())
    }

    fn outbox_next(&mut self, sink: &str) -> Result<Option<OutboxRow>> {
        Ok(self.outbox.iter().find(|r| r.sink == sink && r.delivered_at.is_none()).cloned())
    }

    fn outbox_update(&mut self, row: &OutboxRow) -> Result<()> {
        if let Some(r) = self.outbox.iter_mut().find(|r| r.id == row.id && r.delivered_at.is_none()) {
            *r = row.clone();
        }
        Ok(())
    }

    fn lease(&mut self, sink: &str, holder: &str, now: i64, until: i64) -> Result<bool> {
        let free = self.leases.get(sink).is_none_or(|(h, u)| h == holder || *u <= now);
        if free {
            self.leases.insert(sink.to_string(), (holder.to_string(), until));
        }
        Ok(free)
    }

    fn rollout_of(&mut self, flag: &str) -> Result<Option<RolloutRow>> {
        Ok(self.rollouts.iter().rev().find(|r| r.flag == flag).cloned())
    }

    fn insert_rollout(&mut self, row: &RolloutRow) -> Result<i64> {
        if super::is_active(&row.status)
            && self.rollouts.iter().any(|r| r.flag == row.flag && super::is_active(&r.status))
        {
            return Err(Error::io("UNIQUE constraint failed: rollouts.flag (one active rollout per flag)"));
        }
        let id = self.rollouts.last().map_or(1, |r| r.id + 1);
        self.rollouts.push(RolloutRow { id, ..row.clone() });
        Ok(id)
    }

    fn update_rollout(&mut self, row: &RolloutRow, expected: i64) -> Result<bool> {
        let Some(r) = self.rollouts.iter_mut().find(|r| r.id == row.id && r.revision == expected) else {
            return Ok(false);
        };
        *r = RolloutRow { revision: expected + 1, ..row.clone() };
        Ok(true)
    }

    fn insert_rollout_event(&mut self, event: &RolloutEvent) -> Result<()> {
        let id = self.rollout_events.last().map_or(1, |e| e.id + 1);
        self.rollout_events.push(RolloutEvent { id, ..event.clone() });
        Ok(())
    }
}

impl Store for MemoryStore {
    fn latest(&mut self, environment: &str) -> Result<Option<VersionRow>> {
        Ok(self.lock().latest(environment))
    }

    fn heads(&mut self) -> Result<Vec<(String, u64)>> {
        let state = self.lock();
        let mut heads: BTreeMap<String, u64> = BTreeMap::new();
        for (environment, version) in state.versions.keys() {
            heads.insert(environment.clone(), *version);
        }
        Ok(heads.into_iter().collect())
    }

    fn may_have_changed(&mut self) -> Result<bool> {
        let commits = self.lock().commits;
        Ok(self.seen.replace(commits) != Some(commits))
    }

    fn version(&mut self, environment: &str, version: u64) -> Result<Option<VersionRow>> {
        self.lock().version(environment, version)
    }

    fn versions_after(&mut self, environment: &str, after: u64) -> Result<Vec<VersionRow>> {
        self.lock().versions_after(environment, after)
    }

    fn changes(&mut self, filter: &LogFilter) -> Result<Vec<Change>> {
        let state = self.lock();
        let matching = state.changes.iter().rev().filter(|c| {
            filter.environment.as_ref().is_none_or(|e| *e == c.environment)
                && filter.flag.as_ref().is_none_or(|f| c.flag.as_ref() == Some(f))
                && filter.after_id.is_none_or(|after| c.id > after)
        });
        Ok(matching.take(filter.limit.unwrap_or(usize::MAX)).cloned().collect())
    }

    fn chain(&mut self) -> Result<Vec<ChainEntry>> {
        Ok(self.lock().chain.clone())
    }

    fn write(&mut self, work: &mut dyn FnMut(&mut dyn WriteTx) -> Result<()>) -> Result<()> {
        let mut state = self.lock();
        let mut tx = state.clone();
        work(&mut tx)?;
        tx.commits += 1;
        *state = tx;
        Ok(())
    }

    fn with_target_lock(
        &mut self,
        _environment: &str,
        _target: &str,
        work: &mut dyn FnMut(&mut dyn WriteTx) -> Result<()>,
    ) -> Result<()> {
        self.write(work)
    }

    fn describe(&self) -> String {
        "state in memory".to_string()
    }

    fn pushed(&mut self, environment: &str, target: &str) -> Result<u64> {
        Ok(self.lock().pushes.get(&(environment.to_string(), target.to_string())).copied().unwrap_or(0))
    }

    fn all_versions(&mut self) -> Result<Vec<VersionRow>> {
        Ok(self.lock().versions.values().cloned().collect())
    }

    fn tokens(&mut self) -> Result<Vec<TokenRecord>> {
        Ok(self.lock().tokens.clone())
    }

    fn outbox_summary(&mut self) -> Result<Vec<OutboxSummary>> {
        let state = self.lock();
        let mut by_sink: BTreeMap<&str, OutboxSummary> = BTreeMap::new();
        for r in &state.outbox {
            let s = by_sink
                .entry(&r.sink)
                .or_insert_with(|| OutboxSummary { sink: r.sink.clone(), ..OutboxSummary::default() });
            if r.delivered_at.is_some() {
                s.delivered += 1;
                continue;
            }
            // The head's next attempt and last error: later rows wait behind it.
            if s.pending == 0 {
                s.oldest_pending_at = Some(r.created_at);
                s.next_attempt_at = Some(r.next_attempt_at);
                s.last_error = r.last_error.clone();
            }
            s.pending += 1;
            s.failing += u64::from(r.attempts > 0);
        }
        Ok(by_sink.into_values().collect())
    }

    fn outbox_all(&mut self) -> Result<Vec<OutboxRow>> {
        Ok(self.lock().outbox.clone())
    }

    fn rollouts(&mut self) -> Result<Vec<RolloutRow>> {
        Ok(self.lock().rollouts.clone())
    }

    fn rollout_events(&mut self, rollout: Option<i64>) -> Result<Vec<RolloutEvent>> {
        Ok(self.lock().rollout_events.iter().filter(|e| rollout.is_none_or(|r| e.rollout == r)).cloned().collect())
    }

    fn import(&mut self, copy: &StateCopy) -> Result<()> {
        let mut state = self.lock();
        if !state.versions.is_empty() {
            return Err(Error::refused("the memory store already holds versions; import into an empty one"));
        }
        for v in &copy.versions {
            state.versions.insert((v.environment.clone(), v.version), v.clone());
        }
        state.changes = copy.changes.clone();
        for c in &copy.changes {
            state.append(super::StoredChange::of(c, c.id));
        }
        state.tokens = copy.tokens.clone();
        state.outbox = copy.outbox.clone();
        state.rollouts = copy.rollouts.clone();
        state.rollout_events = copy.rollout_events.clone();
        state.commits += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(environment: &str, version: u64) -> VersionRow {
        VersionRow {
            environment: environment.into(),
            version,
            published_at: 0,
            author: "t".into(),
            snapshot: vec![version as u8],
            browser_snapshot: None,
        }
    }

    #[test]
    fn a_failed_write_leaves_nothing_and_versions_go_up_by_one() {
        let mut store = MemoryStore::new();
        store.write(&mut |tx| tx.insert_version(&row("dev", 1))).unwrap();
        let failed = store.write(&mut |tx| {
            tx.insert_version(&row("dev", 2))?;
            Err(Error::refused("changed my mind"))
        });
        assert!(failed.is_err());
        assert_eq!(store.heads().unwrap(), [("dev".to_string(), 1)]);
        assert!(store.write(&mut |tx| tx.insert_version(&row("dev", 3))).is_err(), "a gap is refused");
        let mut other = store.clone();
        other.write(&mut |tx| tx.insert_version(&row("dev", 2))).unwrap();
        assert_eq!(store.latest("dev").unwrap().unwrap().version, 2, "clones share one state");
        assert!(store.may_have_changed().unwrap());
        assert!(!store.may_have_changed().unwrap());
    }
}
