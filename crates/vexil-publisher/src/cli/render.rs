//! Reports as people read them, or as JSON for scripts. Every function here takes a typed
//! report from the library and prints it; none decides anything.

use crate::config::{Sink, SinkKind};
use crate::entity::FeatureEntity;
use crate::inspect::{flag_audience, Inspection};
use crate::lint::LintReport;
use crate::project::{FeatureList, Published, PushResult, StatusRow};
use crate::push::PushOutcome;
use crate::store::{Change, OutboxSummary, TokenRecord};
use crate::tokens::NewToken;
use serde::Serialize;
use serde_json::Value as Json;
use vexil_core::{State, Timestamp};

/// What a command says: for its standard output and standard error, or, in chat, for the
/// reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Out {
    /// The report.
    pub stdout: String,
    /// Warnings: what failed after the change stood (a push).
    pub stderr: String,
}

impl Out {
    /// Writes both to the process's standard output and error.
    pub fn print(self) {
        use std::io::Write;
        let _ = std::io::stdout().lock().write_all(self.stdout.as_bytes());
        let _ = std::io::stderr().lock().write_all(self.stderr.as_bytes());
    }

    /// Both, as one text (a chat reply).
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr).trim_end().to_string()
    }
}

macro_rules! say {
    ($out:expr) => { $out.stdout.push('\n') };
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out.stdout, $($arg)*);
    }};
}

macro_rules! warn {
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out.stderr, $($arg)*);
    }};
}

/// Pretty JSON.
pub fn json(out: &mut Out, value: &impl Serialize) {
    say!(out, "{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

/// An ISO 8601 time from ms since the epoch.
pub fn iso_time(ms: i64) -> String {
    Timestamp::from_unix_millis(ms).to_utc().to_string()
}

/// A flag in one environment, as chatops prints it.
pub fn feature(out: &mut Out, f: &FeatureEntity) {
    let (env, flag) = (&f.environment, &f.name);
    let facts = match &f.definition {
        None => "no definition".to_string(),
        Some(d) => format!("{}, default_enabled: {}", d.flag_type.name(), d.default_enabled),
    };
    if !f.persisted {
        say!(
            out,
            "{env} v{}: The feature \"{flag}\" does not exist on {env}: nothing is persisted ({facts} applies).",
            f.version
        );
        return;
    }
    say!(out, "{env} v{}: {flag} ({facts})  state: {}", f.version, f.state.name());
    for g in &f.gates {
        let title = match g.key {
            "boolean" => "Enabled Globally",
            "actors" => "Scoped to",
            k => k,
        };
        say!(out, "  {title:<22} {}", g.value);
    }
}

/// The outcome of a change: the flag in each environment it changed, and each push.
pub fn change(out: &mut Out, headline: &str, entities: &[(FeatureEntity, &Published)], as_json: bool) {
    if as_json {
        let list: Vec<Json> = entities
            .iter()
            .map(|(entity, published)| {
                let mut j = serde_json::to_value(entity).unwrap_or(Json::Null);
                j["pushes"] = serde_json::to_value(&published.pushes).unwrap_or(Json::Null);
                j
            })
            .collect();
        json(out, &list);
        return;
    }
    say!(out, "{headline}");
    for (entity, published) in entities {
        feature(out, entity);
        pushes(out, published);
    }
}

/// What each target did.
pub fn pushes(out: &mut Out, x: &Published) {
    for r in &x.pushes {
        match &r.result {
            PushResult::Ok(PushOutcome::Pushed { from, to }) => say!(out, "  pushed {} v{from} → v{to}", r.target),
            PushResult::Ok(PushOutcome::UpToDate { version }) => say!(out, "  {} up to date (v{version})", r.target),
            PushResult::Ok(PushOutcome::Nothing) => {}
            PushResult::Failed { error } => {
                warn!(out, "vexil: push failed, target behind until the next `vexil publish`: {error}")
            }
        }
    }
}

/// `vexil rollback`.
pub fn rollback(out: &mut Out, x: &Published) {
    say!(out, "{}: v{} has the state of v{}", x.environment, x.version, x.restored.unwrap_or(0));
    pushes(out, x);
}

/// Something a change did besides itself, on stderr so JSON output stays parseable.
pub fn notice(out: &mut Out, notice: &str) {
    warn!(out, "vexil: {notice}");
}

/// `vexil publish`.
pub fn published(out: &mut Out, published: &[Published], as_json: bool) {
    if as_json {
        return json(out, &published);
    }
    for x in published {
        say!(out, "{} v{}", x.environment, x.version);
        pushes(out, x);
    }
}

/// `feature list`.
pub fn feature_lists(out: &mut Out, lists: &[FeatureList], as_json: bool) {
    if as_json {
        return json(out, &lists);
    }
    for l in lists {
        say!(out, "{}", l.environment);
        say!(out, "  Enabled Features ({}): {}", l.enabled.len(), l.enabled.join(", "));
        say!(out, "  Disabled Features ({}): {}", l.disabled.len(), l.disabled.join(", "));
    }
}

/// `vexil status`.
pub fn status(out: &mut Out, rows: &[StatusRow], behind: bool, as_json: bool) {
    if as_json {
        return json(out, &serde_json::json!({"behind": behind, "targets": rows}));
    }
    say!(out, "{:<14} {:<10} {:<8} {:>9} {:>9}  status", "environment", "target", "audience", "database", "target");
    for r in rows {
        let tv = r.target_version.map_or("?".to_string(), |v| v.to_string());
        let what = match (&r.error, r.behind) {
            (Some(e), _) => format!("ERROR (last pushed v{}): {e}", r.last_pushed),
            (None, true) => "BEHIND".to_string(),
            (None, false) => "ok".to_string(),
        };
        say!(
            out,
            "{:<14} {:<10} {:<8} {:>9} {:>9}  {what}",
            r.environment,
            r.target,
            r.audience.name(),
            r.database,
            tv
        );
    }
}

/// `vexil log`.
pub fn log(out: &mut Out, changes: &[Change], as_json: bool) {
    if as_json {
        return json(out, &changes);
    }
    for c in changes {
        say!(
            out,
            "{}  {:<12} v{:<5} {:<28} {:<28} {}",
            iso_time(c.at),
            c.environment,
            c.version,
            c.flag.as_deref().unwrap_or("-"),
            c.action.name(),
            c.author
        );
        say!(out, "    {}: {}", c.via.name(), c.command);
    }
}

/// `vexil log --verify`: one line.
pub fn verified(out: &mut Out, v: &crate::project::Verified, as_json: bool) {
    if as_json {
        return json(out, v);
    }
    let head = v.head.as_deref().map_or("none".to_string(), |h| h[..16.min(h.len())].to_string());
    say!(
        out,
        "The change log verifies: {} entries chained (head {head}), {} versions of {} checked.",
        v.entries,
        v.versions,
        if v.environments.is_empty() { "no environment".to_string() } else { v.environments.join(", ") }
    );
}

/// `vexil lint`.
pub fn lint(out: &mut Out, report: &LintReport, as_json: bool) {
    if as_json {
        return json(out, report);
    }
    for problem in &report.problems {
        say!(out, "{problem}");
    }
    for pattern in &report.unmatched_client_side {
        say!(out, "vexil.toml: warning: client_side lists {pattern:?}, which matches no defined flag");
    }
    for e in &report.browser_errors {
        say!(out, "error: {e}");
    }
    for e in &report.browser_exposures {
        say!(out, "warning: {e}");
    }
    say!(out, "{} definitions, {} errors, {} warnings", report.definitions, report.errors, report.warnings());
}

/// `vexil inspect`.
pub fn inspection(out: &mut Out, i: &Inspection, source: &str, as_json: bool) {
    if as_json {
        return json(out, i);
    }
    let env = &i.state;
    say!(out, "{source}: environment {} v{} published {}", env.name, env.version, iso_time(env.published_at));
    say!(
        out,
        "  {} bytes, {} flags, {}",
        i.bytes,
        env.flags.len(),
        match (&i.signer, i.verified) {
            (Some(k), true) => format!("signed by {k} (verified)"),
            (Some(k), false) => format!("signed by {k} (not verified: no trusted keys configured)"),
            (None, _) => "unsigned".to_string(),
        }
    );
    if let vexil_core::Audience::Browser { .. } = env.audience {
        say!(out, "  browser audience: client-side flags only, allow-lists and opt-outs as salted hashes");
    }
    for (name, f) in &env.flags {
        let state = if !f.persisted {
            format!("default ({})", if f.default_enabled { "on" } else { "off" })
        } else {
            match f.state() {
                State::On => "on".into(),
                State::Conditional => format!("conditional: {}", crate::gates_json::summary(&f.gates)),
                State::Off => "off".into(),
            }
        };
        say!(out, "  {name:<40} {:<18} {:<8} {state}", f.flag_type.name(), flag_audience(f).name());
    }
}

/// `vexil token create`: the token, once.
pub fn new_token(out: &mut Out, new: &NewToken, as_json: bool) {
    let r = &new.record;
    if as_json {
        return json(
            out,
            &serde_json::json!({
                "name": r.name,
                "token": new.token,
                "environments": r.environments,
                "access": r.access.name(),
                "expires_at": r.expires_at,
            }),
        );
    }
    let expiry = r.expires_at.map_or("never expires".to_string(), |e| format!("expires {}", iso_time(e)));
    say!(out, "Created token {} ({} on {}; {expiry}):", r.name, r.access.name(), r.environments.join(", "));
    say!(out, "{}", new.token);
    say!(out, "It is shown only now: store it (a CI variable, a password manager). Send it as PRIVATE-TOKEN or Authorization: Bearer.");
}

/// `vexil token list`.
pub fn tokens(out: &mut Out, tokens: &[TokenRecord], now: i64, as_json: bool) {
    let status = |t: &TokenRecord| match (t.revoked_at, t.expires_at) {
        (Some(_), _) => "revoked",
        (None, Some(e)) if e <= now => "expired",
        _ => "active",
    };
    if as_json {
        let list: Vec<Json> = tokens
            .iter()
            .map(|t| {
                serde_json::json!({
                    "name": t.name,
                    "environments": t.environments,
                    "access": t.access.name(),
                    "created_at": t.created_at,
                    "expires_at": t.expires_at,
                    "revoked_at": t.revoked_at,
                    "status": status(t),
                })
            })
            .collect();
        return json(out, &list);
    }
    say!(out, "{:<24} {:<6} {:<8} {:<21} {:<21} environments", "name", "access", "status", "created", "expires");
    for t in tokens {
        let expires = t.expires_at.map_or("never".to_string(), iso_time);
        say!(
            out,
            "{:<24} {:<6} {:<8} {:<21} {:<21} {}",
            t.name,
            t.access.name(),
            status(t),
            iso_time(t.created_at),
            expires,
            t.environments.join(",")
        );
    }
}

/// `vexil notifications`.
pub fn notifications(out: &mut Out, rows: &[OutboxSummary], sinks: &[Sink], as_json: bool) {
    if as_json {
        return json(out, &rows);
    }
    if rows.is_empty() {
        say!(out, "No sinks: vexil.toml's [[notify]] lists where changes are announced.");
        return;
    }
    say!(
        out,
        "{:<20} {:<10} {:>9} {:>8} {:>8}  oldest pending         next attempt           last error",
        "sink",
        "kind",
        "delivered",
        "pending",
        "failing"
    );
    for r in rows {
        let kind = match sinks.iter().find(|s| s.name == r.sink).map(|s| &s.kind) {
            Some(SinkKind::Webhook { .. }) => "webhook",
            Some(SinkKind::Slack { .. }) => "slack",
            Some(SinkKind::Mattermost { .. }) => "mattermost",
            Some(SinkKind::Pipeline { .. }) => "pipeline",
            None => "(removed)",
        };
        let when = |t: Option<i64>| t.map_or("-".to_string(), iso_time);
        say!(
            out,
            "{:<20} {:<10} {:>9} {:>8} {:>8}  {:<22} {:<22} {}",
            r.sink,
            kind,
            r.delivered,
            r.pending,
            r.failing,
            when(r.oldest_pending_at),
            when(r.next_attempt_at),
            r.last_error.as_deref().unwrap_or("-")
        );
    }
}
