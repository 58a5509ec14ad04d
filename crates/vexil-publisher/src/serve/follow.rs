//! Following the database: one thread wakes when a version may have committed — on
//! PostgreSQL's NOTIFY, or when SQLite's `data_version` moves — loads every version newer
//! than what is served, and announces each in order.

use super::announce::{all_environments_data, announcement};
use super::{etag, Head, Shared};
use crate::config::StateConfig;
use crate::error::{Error, Result};
use crate::project::lock_timeout;
use crate::store::{self, Listener, Store};
use std::sync::Arc;
use std::time::Duration;

/// Loads what is committed now, then follows the database on its own thread.
pub(super) fn start(shared: &Arc<Shared>, poll: Duration) -> Result<()> {
    let mut follower = Follower::open(shared, poll)?;
    follower.catch_up(shared)?;
    std::thread::Builder::new()
        .name("vexil-follow".into())
        .spawn({
            let shared = shared.clone();
            move || follower.run(&shared)
        })
        .map_err(|e| Error::io(format!("cannot start the database follower: {e}")))?;
    Ok(())
}

/// The follower reads the database at least every 2 s (its LISTEN wait) or every poll. One
/// silent for longer is stuck in a statement that a frozen database (a stopped process, a
/// peer that acknowledges packets and never answers) will not end, and no timeout on this
/// side of the connection would either.
pub(super) const SILENT_AFTER: Duration = Duration::from_secs(10);

/// What the follower last found, for `/healthz`.
#[derive(Clone, Debug, Default)]
pub(super) struct Health {
    /// The database, for messages (never with a password).
    pub describe: String,
    /// Why the database cannot be read, while it cannot.
    pub database: Option<String>,
    /// Environments whose newest version does not load, and why.
    pub environments: std::collections::BTreeMap<String, String>,
    /// When the follower last read the heads (ms since the epoch).
    pub followed_at: i64,
}

enum Wake {
    Poll,
    Listen(Box<Listener>),
}

pub(super) struct Follower {
    store: Box<dyn Store + Send>,
    wake: Wake,
    poll: Duration,
    /// A catch-up failed: look at the heads again even if nothing new was committed.
    behind: bool,
}

impl Follower {
    fn open(shared: &Shared, poll: Duration) -> Result<Follower> {
        let store = store::open(&shared.config.state, lock_timeout())?;
        shared.health.lock().expect("health lock").describe = store.describe();
        let wake = match &shared.config.state {
            StateConfig::Sqlite(_) => Wake::Poll,
            StateConfig::Postgres(url) => Wake::Listen(Box::new(Listener::open(url)?)),
        };
        Ok(Follower { store, wake, poll, behind: false })
    }

    fn run(mut self, shared: &Shared) {
        loop {
            let woke = match &mut self.wake {
                Wake::Poll => {
                    std::thread::sleep(self.poll);
                    match self.store.may_have_changed() {
                        Ok(false) if !self.behind => {
                            // The database answered: the follower is not stuck.
                            shared.health.lock().expect("health lock").followed_at = crate::clock::now_ms();
                            continue;
                        }
                        other => other.map(drop),
                    }
                }
                // The timeout is a safety net: a notification lost with a dropped connection
                // is found by the next look at the heads.
                Wake::Listen(listener) => listener.wait(Duration::from_secs(2)).map(drop),
            };
            let caught_up = woke.and_then(|()| self.catch_up(shared));
            self.behind = caught_up.is_err();
            if let Err(e) = caught_up {
                shared.health.lock().expect("health lock").database = Some(e.to_string());
                eprintln!("vexil serve: {e}; reconnecting");
                std::thread::sleep(Duration::from_millis(500));
                if let Ok(again) = Follower::open(shared, self.poll) {
                    self = again;
                }
            }
        }
    }

    /// Loads every version newer than what is served, announcing each in order.
    /// A version that does not load stops its environment only: the others go on, and
    /// `/healthz` names it.
    fn catch_up(&mut self, shared: &Shared) -> Result<()> {
        let heads = self.store.heads()?;
        let mut failing = std::collections::BTreeMap::new();
        for (environment, newest) in heads {
            if let Err(e) = self.catch_up_one(shared, &environment, newest) {
                let already = shared.health.lock().expect("health lock").environments.get(&environment).cloned();
                if already.as_deref() != Some(&e.to_string()) {
                    eprintln!("vexil serve: {environment}: {e}; its other readers keep the version before");
                }
                failing.insert(environment, e.to_string());
            }
        }
        let mut health = shared.health.lock().expect("health lock");
        health.database = None;
        health.environments = failing;
        health.followed_at = crate::clock::now_ms();
        Ok(())
    }

    fn catch_up_one(&mut self, shared: &Shared, environment: &str, newest: u64) -> Result<()> {
        let Some(sender) = shared.events.get(environment) else { return Ok(()) };
        let head = shared.heads.read().expect("heads lock").get(environment).cloned();
        let known = head.as_ref().map_or(0, |h| h.version);
        if newest <= known {
            return Ok(());
        }
        // A server that starts (or an environment published for the first time) serves
        // the newest version; versions before it were never announced, so only it is.
        let rows = match &head {
            Some(_) => self.store.versions_after(environment, known)?,
            None => self.store.latest(environment)?.into_iter().collect(),
        };
        let mut previous = head;
        for row in rows {
            let snapshot = row.decode().map_err(|e| e.context(self.store.describe()))?;
            let state = snapshot.to_environment();
            let changed = match &previous {
                Some(p) => state.changed_since(&p.state),
                None => state.flags.keys().cloned().collect(),
            };
            // Versions committed before vexil stored browser snapshots have none; their
            // browser routes answer 404 until the next version.
            let browser = row.browser_snapshot.as_ref().map(|b| (etag(b), axum::body::Bytes::from(b.clone())));
            let next = Arc::new(Head {
                version: row.version,
                etag: etag(&row.snapshot),
                bytes: row.snapshot.into(),
                state,
                browser,
            });
            shared.heads.write().expect("heads lock").insert(environment.to_string(), next.clone());
            // Sending with no subscriber is fine (at startup there are none). An
            // environment's first version is announced too: a page may already follow it.
            let _ = sender.send(announcement(&next, &changed, previous.as_ref().map(|p| &p.state)));
            let _ = shared.all_events.send(all_environments_data(environment, &next, &changed));
            previous = Some(next);
        }
        if let Some(wake) = &shared.wake_deliverer {
            // A full channel already holds a wake-up: the deliverer will look anyway.
            let _ = wake.try_send(());
        }
        Ok(())
    }
}
