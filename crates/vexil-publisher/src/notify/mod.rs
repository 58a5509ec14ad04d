//! Every committed change, from any entry point, announced to the sinks vexil.toml lists
//! (`[[notify]]`): signed webhooks, chat channels, pipeline triggers. Announcements are
//! written to an outbox in the transaction that commits the change, so one exists exactly
//! when the change does; [`deliver`] sends them afterwards.
//!
//! - [`event`]: what an announcement says (pure);
//! - [`deliver`]: sending, retrying, and who delivers.

pub mod deliver;
pub mod event;

pub use event::Event;

use crate::config::Sink;
use crate::error::{Error, Result};
use crate::store::{OutboxRow, OutboxSummary};

/// A new event id: `evt_` and 128 random bits, the same for every sink and attempt.
pub fn event_id() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Error::io(format!("no randomness for an event id: {e}")))?;
    Ok(format!("evt_{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

/// The outbox rows of `event`: one for each sink that wants its environments.
pub fn outbox_rows(event: &Event, sinks: &[Sink]) -> Result<Vec<OutboxRow>> {
    let environments: Vec<&str> = event.environments.iter().map(String::as_str).collect();
    let payload = serde_json::to_string(event).map_err(|e| Error::io(format!("cannot write the event: {e}")))?;
    Ok(sinks
        .iter()
        .filter(|s| s.wants(&environments))
        .map(|s| OutboxRow {
            id: 0,
            event: event.id.clone(),
            sink: s.name.clone(),
            payload: payload.clone(),
            created_at: event.at,
            attempts: 0,
            next_attempt_at: event.at,
            delivered_at: None,
            last_error: None,
        })
        .collect())
}

/// `vexil notifications`: each configured sink's deliveries (sinks nothing was sent to yet
/// included).
pub fn summaries(sinks: &[Sink], stored: Vec<OutboxSummary>) -> Vec<OutboxSummary> {
    let mut out: Vec<OutboxSummary> = sinks
        .iter()
        .map(|s| {
            stored
                .iter()
                .find(|x| x.sink == s.name)
                .cloned()
                .unwrap_or_else(|| OutboxSummary { sink: s.name.clone(), ..OutboxSummary::default() })
        })
        .collect();
    // Sinks removed from vexil.toml with announcements still waiting.
    out.extend(stored.into_iter().filter(|x| !sinks.iter().any(|s| s.name == x.sink)));
    out
}

impl crate::project::Project {
    /// Delivers what is due to the sinks nobody else is delivering to (a running `vexil
    /// serve` holds them), until `deadline`; then lets go of them.
    pub fn deliver_notifications(&mut self, holder: &str, deadline: std::time::Instant) -> Result<deliver::Pass> {
        let sinks = self.config.sinks.clone();
        if sinks.is_empty() {
            return Ok(deliver::Pass::default());
        }
        let http = deliver::client()?;
        let pass = deliver::deliver_due(self.store(), &sinks, holder, &http, LEASE, Some(deadline));
        // Let go even after a failure, so that the next deliverer need not wait for the lease.
        let released = deliver::release(self.store(), &sinks, holder);
        let pass = pass?;
        released?;
        Ok(pass)
    }

    /// Each sink's deliveries.
    pub fn notifications(&mut self) -> Result<Vec<OutboxSummary>> {
        let stored = self.store().outbox_summary()?;
        Ok(summaries(&self.config.sinks, stored))
    }
}

/// How long a deliverer holds a sink: a deliverer that died lets go after this. Longer than
/// one delivery may take (the HTTP client gives up after 10 s), so a live deliverer renews it
/// before it lapses. Leases are measured by each host's clock; should clocks differ by more
/// than the margin, two deliverers may overlap, which costs duplicates (same id), never a
/// lost announcement or a row marked wrongly.
pub const LEASE: std::time::Duration = std::time::Duration::from_secs(15);
