//! `vexil serve` delivers every change's announcements, whoever made the change: one thread
//! holds each sink's lease (so `vexil` commands leave delivery to it), wakes when the
//! follower sees a new version, and looks again every second for retries that fell due.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::notify::{deliver, LEASE};
use crate::project::lock_timeout;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

/// Starts the deliverer; `wake` is signalled when new versions are committed.
pub(super) fn start(config: &Config, wake: Receiver<()>) -> Result<()> {
    let sinks = config.sinks.clone();
    let state = config.state.clone();
    let holder = format!("serve-{}-{}", std::process::id(), crate::notify::event_id()?);
    let http = deliver::client()?;
    let mut store = crate::store::open(&state, lock_timeout())?;
    std::thread::Builder::new()
        .name("vexil-deliver".into())
        .spawn(move || loop {
            match deliver::deliver_due(store.as_mut(), &sinks, &holder, &http, LEASE, None) {
                Ok(pass) => {
                    for a in pass.attempts.iter().filter(|a| a.error.is_some()) {
                        eprintln!(
                            "vexil serve: notifying {} of {} failed ({}); retrying with backoff",
                            a.sink,
                            a.event,
                            a.error.as_deref().unwrap_or_default()
                        );
                    }
                }
                Err(e) => {
                    eprintln!("vexil serve: notifications: {e}; reconnecting");
                    std::thread::sleep(Duration::from_millis(500));
                    if let Ok(again) = crate::store::open(&state, lock_timeout()) {
                        store = again;
                    }
                }
            }
            match wake.recv_timeout(Duration::from_secs(1)) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        })
        .map_err(|e| Error::io(format!("cannot start the notification deliverer: {e}")))?;
    Ok(())
}
