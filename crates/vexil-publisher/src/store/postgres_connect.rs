//! Reaching PostgreSQL: URLs with their password kept out of every message, connections
//! with timeouts, TLS (`postgres_tls.rs`) and the database's own reason when they fail, and
//! the LISTEN connection `vexil serve` wakes on.

use super::postgres::CHANNEL;
use super::postgres_tls::Tls;
use crate::error::{Error, Result};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config};
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

/// A statement the database has not finished after this long is cancelled by the server
/// (`VEXIL_STATEMENT_TIMEOUT`, seconds, or `options=-c statement_timeout=…` in the URL):
/// a database stuck on a lock or a disk becomes an error instead of a command, or `vexil
/// serve`'s follower, waiting for ever.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle connections (the LISTEN one waits for hours) are probed this often, so that a
/// peer gone without a word (a host powered off, a NAT that forgot the flow) is noticed.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(15);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_RETRIES: u32 = 3;
/// Data the peer has not acknowledged for this long breaks the connection (Linux's
/// TCP_USER_TIMEOUT): without it a write into a black hole retries for about 15 minutes.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The statement timeout for a connection whose writers wait up to `busy` for the write
/// lock: a lock wait is a statement too, and must end with the lock's own message.
pub(super) fn statement_timeout(busy: Duration) -> Result<Duration> {
    match std::env::var("VEXIL_STATEMENT_TIMEOUT") {
        Ok(text) => match text.parse::<f64>() {
            Ok(s) if s.is_finite() && s >= 0.001 => Ok(Duration::from_secs_f64(s)),
            _ => Err(Error::refused(format!(
                "VEXIL_STATEMENT_TIMEOUT={text:?}: expected a number of seconds of at least 0.001"
            ))),
        },
        Err(_) => Ok(STATEMENT_TIMEOUT.max(busy + Duration::from_secs(5))),
    }
}

/// `url` as a driver configuration, with vexil's timeouts wherever the URL sets none, and
/// the TLS it asks for.
pub(super) fn configure(url: &str, statement_timeout: Duration) -> Result<(Config, Tls)> {
    let (driver_url, tls) = super::postgres_tls::split(url, &redact(url))?;
    let mut config: Config = driver_url
        .parse()
        .map_err(|e| Error::refused(format!("state = {:?}: not a PostgreSQL URL: {e}", redact(url))))?;
    config.ssl_mode(tls.driver_mode());
    let given = |key: &str| query_keys(url).iter().any(|k| k == key);
    if !given("application_name") {
        // So that an operator sees in pg_stat_activity which sessions are vexil's.
        config.application_name("vexil");
    }
    if config.get_password().is_none() {
        if let Some(p) = std::env::var_os("VEXIL_DATABASE_PASSWORD").or_else(|| std::env::var_os("PGPASSWORD")) {
            config.password(p.to_string_lossy().as_bytes());
        }
    }
    if !given("connect_timeout") {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if !given("keepalives") {
        config.keepalives(true);
    }
    if !given("keepalives_idle") {
        config.keepalives_idle(KEEPALIVE_IDLE);
    }
    if !given("keepalives_interval") {
        config.keepalives_interval(KEEPALIVE_INTERVAL);
    }
    if !given("keepalives_retries") {
        config.keepalives_retries(KEEPALIVE_RETRIES);
    }
    if !given("tcp_user_timeout") {
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
    }
    // First, so that a statement_timeout the URL's own options name wins.
    let ours = format!("-c statement_timeout={}", statement_timeout.as_millis().max(1));
    let options = match config.get_options() {
        Some(theirs) if !theirs.trim().is_empty() => format!("{ours} {theirs}"),
        _ => ours,
    };
    config.options(&options);
    Ok((config, tls))
}

/// The parameter names in `url`'s query, decoded.
fn query_keys(url: &str) -> Vec<String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes()).map(|(k, _)| k.into_owned()).collect()
}

/// The database's own message, which says what is wrong (authentication, missing database),
/// rather than the driver's generic "db error".
pub(super) fn connect(url: &str, statement_timeout: Duration) -> Result<(Client, String)> {
    let (config, tls) = configure(url, statement_timeout)?;
    let describe = format!("state database {}", redact(url));
    let client = tls.connect(&config, &describe)?.map_err(|e| {
        let host = match config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(host)) => host.clone(),
            _ => String::new(),
        };
        let why = tls.explain(&e, &host).unwrap_or_else(|| cause(&e));
        Error::io(format!("{describe}: cannot connect: {why}"))
    })?;
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
        let (mut client, describe) = connect(url, STATEMENT_TIMEOUT)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_apply_where_the_url_sets_none_and_the_urls_own_win() {
        let (c, _) = configure("postgres://v@db/f", STATEMENT_TIMEOUT).unwrap();
        assert!(c.get_keepalives());
        assert_eq!(c.get_keepalives_idle(), KEEPALIVE_IDLE);
        assert_eq!(c.get_tcp_user_timeout(), Some(&TCP_USER_TIMEOUT));
        assert_eq!(c.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        assert_eq!(c.get_options(), Some("-c statement_timeout=30000"));

        let url = "postgres://v@db/f?keepalives_idle=60&tcp_user_timeout=7&connect_timeout=9&options=-c%20statement_timeout%3D5000";
        let (c, _) = configure(url, Duration::from_millis(1500)).unwrap();
        assert_eq!(c.get_keepalives_idle(), Duration::from_secs(60));
        assert_eq!(c.get_tcp_user_timeout(), Some(&Duration::from_secs(7)));
        assert_eq!(c.get_connect_timeout(), Some(&Duration::from_secs(9)));
        assert_eq!(
            c.get_options(),
            Some("-c statement_timeout=1500 -c statement_timeout=5000"),
            "the URL's comes last"
        );
        let (c, _) = configure("postgres://v@db/f?keepalives=0", STATEMENT_TIMEOUT).unwrap();
        assert!(!c.get_keepalives());
    }

    #[test]
    fn a_lock_wait_longer_than_the_statement_timeout_raises_it() {
        // No VEXIL_STATEMENT_TIMEOUT in the test environment: the defaults.
        if std::env::var_os("VEXIL_STATEMENT_TIMEOUT").is_some() {
            return;
        }
        assert_eq!(statement_timeout(Duration::from_secs(5)).unwrap(), STATEMENT_TIMEOUT);
        assert_eq!(statement_timeout(Duration::from_secs(60)).unwrap(), Duration::from_secs(65));
    }
}
