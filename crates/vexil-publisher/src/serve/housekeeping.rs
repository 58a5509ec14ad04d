//! The dashboard's housekeeping data: which flags should go and why, and how often the code
//! names each. Reading the tree costs a walk of the repository, so one answer serves every
//! dashboard for a short while.

use super::api::private_json;
use super::{problem, Shared};
use crate::definitions;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long one answer is served: the dashboard asks every 30 seconds.
const FRESH_FOR: Duration = Duration::from_secs(15);

/// The last answer and when it was made.
pub(super) type Cached = std::sync::Mutex<Option<(Instant, serde_json::Value)>>;

pub(super) async fn housekeeping(State(shared): State<Arc<Shared>>) -> Response {
    if let Some((at, body)) = shared.housekeeping.lock().expect("cache lock").as_ref() {
        if at.elapsed() < FRESH_FOR {
            return private_json(body.clone());
        }
    }
    let work = shared.clone();
    let made = tokio::task::spawn_blocking(move || -> crate::Result<serde_json::Value> {
        let config = &work.config;
        let loaded = definitions::load(&config.root, &config.definitions);
        let refs = crate::housekeeping::refs::find(config, &loaded, &[])?;
        let mut reader = work.reader.lock().expect("reader lock");
        let stale = crate::housekeeping::stale_report(config, &loaded, reader.as_mut(), crate::clock::now_ms())?;
        Ok(serde_json::json!({
            "stale": stale,
            "references": refs.counts,
            "undefined": refs.references.iter().filter(|r| !r.defined).collect::<Vec<_>>(),
        }))
    })
    .await;
    match made {
        Ok(Ok(body)) => {
            *shared.housekeeping.lock().expect("cache lock") = Some((Instant::now(), body.clone()));
            private_json(body)
        }
        Ok(Err(e)) => problem(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
