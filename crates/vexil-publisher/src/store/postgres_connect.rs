//! Reaching PostgreSQL: URLs with their password kept out of every message, connections
//! with the database's own reason when they fail, and the LISTEN connection `vexil serve`
//! wakes on.

use super::postgres::CHANNEL;
use crate::error::{Error, Result};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, NoTls};
use std::time::Duration;

/// The URL without its password, for messages and for files that end up in git.
pub fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &base[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}@{}", &base[..scheme + 3], user, &base[at + 1..])
        }
        _ => base.to_string(),
    };
    // libpq also takes the password as a parameter: `?password=…`.
    if let Some(query) = query {
        let kept: Vec<&str> = query.split('&').filter(|kv| !kv.to_ascii_lowercase().starts_with("password=")).collect();
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
    }
    out
}

/// The database's own message, which says what is wrong (authentication, missing database),
/// rather than the driver's generic "db error".
pub(super) fn connect(url: &str) -> Result<(Client, String)> {
    let mut config: Config =
        url.parse().map_err(|e| Error::refused(format!("state = {:?}: not a PostgreSQL URL: {e}", redact(url))))?;
    if config.get_password().is_none() {
        if let Some(p) = std::env::var_os("VEXIL_DATABASE_PASSWORD").or_else(|| std::env::var_os("PGPASSWORD")) {
            config.password(p.to_string_lossy().as_bytes());
        }
    }
    config.connect_timeout(Duration::from_secs(5));
    let describe = format!("state database {}", redact(url));
    let client = config.connect(NoTls).map_err(|e| Error::io(format!("{describe}: cannot connect: {}", cause(&e))))?;
    Ok((client, describe))
}

/// A connection listening on [`CHANNEL`]: wakes `vexil serve` the moment a version commits.
pub struct Listener {
    client: Client,
    describe: String,
}

impl Listener {
    /// Connects to `url` and starts listening.
    pub fn open(url: &str) -> Result<Listener> {
        let (mut client, describe) = connect(url)?;
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .map_err(|e| Error::io(format!("{describe}: {}", cause(&e))))?;
        Ok(Listener { client, describe })
    }

    /// Waits up to `timeout` for notifications; returns whether any arrived (several
    /// commits in a burst count once: the caller reads the heads anyway).
    pub fn wait(&mut self, timeout: Duration) -> Result<bool> {
        let mut notifications = self.client.notifications();
        let first = notifications.timeout_iter(timeout).next();
        match first {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(false),
            Err(e) => return Err(Error::io(format!("{}: {}", self.describe, cause(&e)))),
        }
        // Drain what is already here without waiting again.
        let mut rest = notifications.iter();
        while let Ok(Some(_)) = rest.next() {}
        Ok(true)
    }
}

pub(super) fn cause(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        }
    }
}
