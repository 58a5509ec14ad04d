//! The accept loop: each connection served by hyper with a deadline for its request headers
//! (a client trickling them byte by byte holds nothing for long), and no more connections
//! open than the limit — past it a new one is closed at once, so a flood cannot take the
//! descriptors and memory that existing subscribers need — nor more from one client address
//! than its share, so one client cannot take them all.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Open connections per client address.
struct PerClient {
    open: Mutex<HashMap<IpAddr, usize>>,
    limit: usize,
}

/// One connection's place in its client's share; given back when dropped.
struct Slot(Arc<PerClient>, IpAddr);

impl PerClient {
    fn enter(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().expect("per-client lock");
        let n = open.entry(ip).or_insert(0);
        if *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(Slot(self.clone(), ip))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.0.open.lock().expect("per-client lock");
        if let Some(n) = open.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.1);
            }
        }
    }
}

/// Connection limits: in all, and per client address.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Open connections in all.
    pub connections: usize,
    /// Open connections from one address.
    pub per_client: usize,
}

pub(super) async fn serve(listener: TcpListener, app: Router, header_timeout: Duration, limits: Limits) {
    let open = Arc::new(Semaphore::new(limits.connections));
    let clients = Arc::new(PerClient { open: Mutex::new(HashMap::new()), limit: limits.per_client });
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, most likely: wait for some to close rather than spin.
                eprintln!("vexil serve: accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let Some(slot) = clients.enter(peer.ip()) else {
            drop(stream);
            continue;
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(request.map(axum::body::Body::new))
            });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(header_timeout);
            // A connection that fails (reset, a timed-out header) only ends itself.
            let _ = http.serve_connection(TokioIo::new(stream), service).await;
            drop((permit, slot));
        });
    }
}
