//! The write side of `vexil serve --api`: the project every API request is applied to, and
//! who may ask. Requests go through [`Project`] exactly as the CLI's do; they are applied one
//! at a time (writers serialize on the database anyway), off the async threads, with the
//! definitions reloaded whenever their files changed.
//!
//! Tokens come as `PRIVATE-TOKEN` or `Authorization: Bearer`, as GitLab takes them. Failed
//! authentications are counted per client address; past [`FAILURES_PER_MINUTE`] in a
//! minute that address is answered 429 without its token being looked at, so guessing is
//! slow, and every failure looks the same, whether the token is unknown, revoked or expired.

use super::Shared;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::project::Project;
use crate::tokens::{self, Identity};
use axum::http::{header, HeaderMap};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failed authentications an address may make in a minute before it is refused outright.
pub(super) const FAILURES_PER_MINUTE: u32 = 10;
const WINDOW: Duration = Duration::from_secs(60);

pub(super) struct Writer {
    project: Mutex<Project>,
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

/// Why a request was not let in.
pub(super) enum Denied {
    /// No token, or not one the database holds unrevoked and unexpired.
    Unauthenticated,
    /// Too many failures from this address: try again after this many seconds.
    RateLimited(u64),
    /// The database could not be asked.
    Unavailable(Error),
}

impl Writer {
    pub fn new(project: Project) -> Writer {
        Writer { project: Mutex::new(project), failures: Mutex::new(HashMap::new()) }
    }
}

/// The token a request presents.
fn presented(headers: &HeaderMap) -> Option<String> {
    let private = headers.get("private-token").and_then(|v| v.to_str().ok()).map(str::to_string);
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    private.or(bearer).filter(|t| !t.is_empty())
}

/// Who is asking: the identity of a valid token, or why not.
pub(super) async fn authenticate(shared: &Arc<Shared>, peer: IpAddr, headers: &HeaderMap) -> Result<Identity, Denied> {
    let writer = shared.writer.as_ref().ok_or(Denied::Unauthenticated)?;
    {
        let mut failures = writer.failures.lock().expect("failures lock");
        if let Some((start, count)) = failures.get(&peer) {
            let elapsed = start.elapsed();
            if elapsed < WINDOW && *count >= FAILURES_PER_MINUTE {
                return Err(Denied::RateLimited((WINDOW - elapsed).as_secs().max(1)));
            }
            if elapsed >= WINDOW {
                failures.remove(&peer);
            }
        }
    }
    let found = match presented(headers) {
        None => None,
        Some(token) => run(shared, move |p| tokens::authenticate(p.store(), &token, now_ms()))
            .await
            .map_err(Denied::Unavailable)?,
    };
    found.ok_or_else(|| {
        let mut failures = writer.failures.lock().expect("failures lock");
        let entry = failures.entry(peer).or_insert((Instant::now(), 0));
        entry.1 += 1;
        Denied::Unauthenticated
    })
}

/// Runs `work` on the project, one request at a time, off the async threads.
pub(super) async fn run<T: Send + 'static>(
    shared: &Arc<Shared>,
    work: impl FnOnce(&mut Project) -> Result<T> + Send + 'static,
) -> Result<T> {
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || {
        let writer = shared.writer.as_ref().ok_or_else(|| Error::refused("the API is off (vexil serve --api)"))?;
        let mut project = writer.project.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        project.refresh_definitions();
        let done = work(&mut project);
        if let Some(wake) = &shared.wake_deliverer {
            // Announce this server's own commits now rather than at the follower's next poll.
            let _ = wake.try_send(());
        }
        done
    })
    .await
    .map_err(|e| Error::io(format!("the request's task failed: {e}")))?
}
