//! Reports as people read them, or as JSON for scripts. Every function here takes a typed
//! report from the library and prints it; none decides anything.

use crate::entity::FeatureEntity;
use crate::inspect::{flag_audience, Inspection};
use crate::lint::LintReport;
use crate::project::{FeatureList, Published, PushResult, StatusRow};
use crate::push::PushOutcome;
use crate::store::{Change, TokenRecord};
use crate::tokens::NewToken;
use serde::Serialize;
use serde_json::Value as Json;
use vexil_core::{Gates, State, Timestamp};

/// Pretty JSON on standard output.
pub fn json(value: &impl Serialize) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

/// An ISO 8601 time from ms since the epoch.
pub fn iso_time(ms: i64) -> String {
    Timestamp::from_unix_millis(ms).to_utc().to_string()
}

/// A flag in one environment, as chatops prints it.
pub fn feature(f: &FeatureEntity) {
    let (env, flag) = (&f.environment, &f.name);
    let facts = match &f.definition {
        None => "no definition".to_string(),
        Some(d) => format!("{}, default_enabled: {}", d.flag_type.name(), d.default_enabled),
    };
    if !f.persisted {
        println!(
            "{env} v{}: The feature \"{flag}\" does not exist on {env}: nothing is persisted ({facts} applies).",
            f.version
        );
        return;
    }
    println!("{env} v{}: {flag} ({facts})  state: {}", f.version, f.state.name());
    for g in &f.gates {
        let title = match g.key {
            "boolean" => "Enabled Globally",
            "actors" => "Scoped to",
            k => k,
        };
        println!("  {title:<22} {}", g.value);
    }
}

/// The outcome of a change: the flag in each environment it changed, and each push.
pub fn change(headline: &str, entities: &[(FeatureEntity, &Published)], as_json: bool) {
    if as_json {
        let out: Vec<Json> = entities
            .iter()
            .map(|(entity, published)| {
                let mut j = serde_json::to_value(entity).unwrap_or(Json::Null);
                j["pushes"] = serde_json::to_value(&published.pushes).unwrap_or(Json::Null);
                j
            })
            .collect();
        json(&out);
        return;
    }
    println!("{headline}");
    for (entity, published) in entities {
        feature(entity);
        pushes(published);
    }
}

/// What each target did.
pub fn pushes(x: &Published) {
    for r in &x.pushes {
        match &r.result {
            PushResult::Ok(PushOutcome::Pushed { from, to }) => println!("  pushed {} v{from} → v{to}", r.target),
            PushResult::Ok(PushOutcome::UpToDate { version }) => println!("  {} up to date (v{version})", r.target),
            PushResult::Ok(PushOutcome::Nothing) => {}
            PushResult::Failed { error } => {
                eprintln!("vexil: push failed, target behind until the next `vexil publish`: {error}")
            }
        }
    }
}

/// `vexil publish`.
pub fn published(published: &[Published], as_json: bool) {
    if as_json {
        return json(&published);
    }
    for x in published {
        println!("{} v{}", x.environment, x.version);
        pushes(x);
    }
}

/// `feature list`.
pub fn feature_lists(lists: &[FeatureList], as_json: bool) {
    if as_json {
        return json(&lists);
    }
    for l in lists {
        println!("{}", l.environment);
        println!("  Enabled Features ({}): {}", l.enabled.len(), l.enabled.join(", "));
        println!("  Disabled Features ({}): {}", l.disabled.len(), l.disabled.join(", "));
    }
}

/// `vexil status`.
pub fn status(rows: &[StatusRow], behind: bool, as_json: bool) {
    if as_json {
        return json(&serde_json::json!({"behind": behind, "targets": rows}));
    }
    println!("{:<14} {:<10} {:<8} {:>9} {:>9}  status", "environment", "target", "audience", "database", "target");
    for r in rows {
        let tv = r.target_version.map_or("?".to_string(), |v| v.to_string());
        let what = match (&r.error, r.behind) {
            (Some(e), _) => format!("ERROR (last pushed v{}): {e}", r.last_pushed),
            (None, true) => "BEHIND".to_string(),
            (None, false) => "ok".to_string(),
        };
        println!("{:<14} {:<10} {:<8} {:>9} {:>9}  {what}", r.environment, r.target, r.audience.name(), r.database, tv);
    }
}

/// `vexil log`.
pub fn log(changes: &[Change], as_json: bool) {
    if as_json {
        return json(&changes);
    }
    for c in changes {
        println!(
            "{}  {:<12} v{:<5} {:<28} {:<28} {}",
            iso_time(c.at),
            c.environment,
            c.version,
            c.flag.as_deref().unwrap_or("-"),
            c.action.name(),
            c.author
        );
        println!("    {}: {}", c.via.name(), c.command);
    }
}

/// `vexil lint`.
pub fn lint(report: &LintReport, as_json: bool) {
    if as_json {
        return json(report);
    }
    for problem in &report.problems {
        println!("{problem}");
    }
    for pattern in &report.unmatched_client_side {
        println!("vexil.toml: warning: client_side lists {pattern:?}, which matches no defined flag");
    }
    for e in &report.browser_errors {
        println!("error: {e}");
    }
    for e in &report.browser_exposures {
        println!("warning: {e}");
    }
    println!("{} definitions, {} errors, {} warnings", report.definitions, report.errors, report.warnings());
}

/// `vexil inspect`.
pub fn inspection(i: &Inspection, source: &str, as_json: bool) {
    if as_json {
        return json(i);
    }
    let env = &i.state;
    println!("{source}: environment {} v{} published {}", env.name, env.version, iso_time(env.published_at));
    println!(
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
        println!("  browser audience: client-side flags only, allow-lists and opt-outs as salted hashes");
    }
    for (name, f) in &env.flags {
        let state = if !f.persisted {
            format!("default ({})", if f.default_enabled { "on" } else { "off" })
        } else {
            match f.state() {
                State::On => "on".into(),
                State::Conditional => format!("conditional: {}", gates_summary(&f.gates)),
                State::Off => "off".into(),
            }
        };
        println!("  {name:<40} {:<18} {:<8} {state}", f.flag_type.name(), flag_audience(f).name());
    }
}

fn gates_summary(g: &Gates) -> String {
    let mut parts = Vec::new();
    if g.boolean {
        parts.push("boolean".to_string());
    }
    if !g.actors.is_empty() {
        parts.push(format!("actors({})", g.actors.len()));
    }
    if !g.opt_outs.is_empty() {
        parts.push(format!("opt_outs({})", g.opt_outs.len()));
    }
    if !g.groups.is_empty() {
        parts.push(format!("groups({})", g.groups.iter().cloned().collect::<Vec<_>>().join(",")));
    }
    if !g.percentage_of_actors.is_zero() {
        parts.push(format!("actors {}%", g.percentage_of_actors));
    }
    if !g.percentage_of_time.is_zero() {
        parts.push(format!("time {}%", g.percentage_of_time));
    }
    if g.expression.is_some() {
        parts.push("expression".to_string());
    }
    parts.join(" ")
}

/// `vexil token create`: the token, once.
pub fn new_token(new: &NewToken, as_json: bool) {
    let r = &new.record;
    if as_json {
        return json(&serde_json::json!({
            "name": r.name,
            "token": new.token,
            "environments": r.environments,
            "access": r.access.name(),
            "expires_at": r.expires_at,
        }));
    }
    let expiry = r.expires_at.map_or("never expires".to_string(), |e| format!("expires {}", iso_time(e)));
    println!("Created token {} ({} on {}; {expiry}):", r.name, r.access.name(), r.environments.join(", "));
    println!("{}", new.token);
    println!("It is shown only now: store it (a CI variable, a password manager). Send it as PRIVATE-TOKEN or Authorization: Bearer.");
}

/// `vexil token list`.
pub fn tokens(tokens: &[TokenRecord], now: i64, as_json: bool) {
    let status = |t: &TokenRecord| match (t.revoked_at, t.expires_at) {
        (Some(_), _) => "revoked",
        (None, Some(e)) if e <= now => "expired",
        _ => "active",
    };
    if as_json {
        let out: Vec<Json> = tokens
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
        return json(&out);
    }
    println!("{:<24} {:<6} {:<8} {:<21} {:<21} environments", "name", "access", "status", "created", "expires");
    for t in tokens {
        let expires = t.expires_at.map_or("never".to_string(), iso_time);
        println!(
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
