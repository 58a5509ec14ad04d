//! Server-sent events: `event: snapshot`, `id: <version>`, `data: {"version", "etag",
//! "changed"}` per new version of one environment (`/<env>/events`, or the browser's view at
//! `/<env>/browser/events`), resumable with `Last-Event-ID`; and `/events`, every
//! environment on one stream.

use super::announce::{announcement, Announcement};
use super::{audience, cors, Shared};
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use vexil_core::AudienceKind;

/// `GET /<env>/events` and `GET /<env>/browser/events`.
pub(super) async fn environment<const BROWSER: bool>(
    State(shared): State<Arc<Shared>>,
    UrlPath(env): UrlPath<String>,
    request: HeaderMap,
) -> Response {
    events_for(shared, env, request, audience(BROWSER)).await
}

async fn events_for(shared: Arc<Shared>, env: String, request: HeaderMap, audience: AudienceKind) -> Response {
    if let Some(refusal) = shared.unknown(&env) {
        return refusal;
    }
    // Subscribe before reading the head, so nothing committed in between is missed.
    let receiver = shared.events[&env].subscribe();
    let resume_from =
        request.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let mut first = Vec::new();
    // What the client has seen, as far as this database knows it: an id beyond the head (a
    // database restored from backup, a client of another origin) counts as nothing seen, or
    // the current state and every version up to that id would be filtered out.
    let mut seen = 0;
    if let Some(head) = shared.head(&env) {
        seen = resume_from.filter(|&s| s <= head.version).unwrap_or(0);
        match resume_from {
            // Up to date: nothing to say until the next version.
            Some(seen) if seen == head.version => {}
            // Behind: the newest version, with every flag changed since the one the client has.
            Some(seen) if seen < head.version => {
                // Through the version cache: resumes from the same version cost one query.
                let before = super::snapshots::stored_version(&shared, &env, seen, AudienceKind::Server).await;
                let before = before.ok().flatten().and_then(|b| vexil_core::Snapshot::decode(&b, &[]).ok());
                let before = before.map(|s| s.to_environment());
                let changed = match &before {
                    Some(before) => head.state.changed_since(before),
                    None => head.state.flags.keys().cloned().collect(),
                };
                first.push(announcement(&head, &changed, before.as_ref()));
            }
            // A fresh subscriber, or one that saw a version this database never had: the
            // current state, so it can tell whether what it holds is current.
            _ => first.push(announcement(&head, &[], None)),
        }
    }
    let state = StreamState { shared: shared.clone(), env, audience, receiver, first: first.into(), last: seen };
    event_stream(stream::unfold(state, next_event), shared.heartbeat)
}

fn event_stream(
    events: impl Stream<Item = std::result::Result<Event, Infallible>> + Send + 'static,
    heartbeat: Duration,
) -> Response {
    let mut response =
        Sse::new(events).keep_alive(KeepAlive::new().interval(heartbeat).text("heartbeat")).into_response();
    let headers = response.headers_mut();
    cors(headers);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // nginx and similar proxies buffer responses unless told not to.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Every environment's new versions on one stream (`data` names the environment). It has no
/// event ids: a page that reconnects reloads what it follows.
pub(super) async fn all(State(shared): State<Arc<Shared>>) -> Response {
    let receiver = shared.all_events.subscribe();
    let stream = stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(data) => {
                    return Some((Ok::<_, Infallible>(Event::default().event("snapshot").data(data)), receiver))
                }
                // The channel keeps the newest events, and only the newest version of each matters.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    event_stream(stream, shared.heartbeat)
}

struct StreamState {
    shared: Arc<Shared>,
    env: String,
    audience: AudienceKind,
    receiver: broadcast::Receiver<Announcement>,
    first: VecDeque<Announcement>,
    last: u64,
}

async fn next_event(mut s: StreamState) -> Option<(std::result::Result<Event, Infallible>, StreamState)> {
    loop {
        let next = match s.first.pop_front() {
            Some(a) => a,
            None => match s.receiver.recv().await {
                Ok(a) => a,
                // Too slow to take every event: skip to the newest state and call every flag
                // changed, since what this subscriber missed is no longer known.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let head = s.shared.head(&s.env)?;
                    let changed = head.state.flags.keys().cloned().collect::<Vec<_>>();
                    announcement(&head, &changed, None)
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            },
        };
        if next.version <= s.last && s.last != 0 {
            continue;
        }
        s.last = next.version;
        let event = Event::default().event("snapshot").id(next.version.to_string()).data(next.data(s.audience));
        return Some((Ok(event), s));
    }
}
