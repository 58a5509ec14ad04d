//! The TOML of `vexil.toml`, read into [`Config`]: unknown fields refused, and every
//! refusal naming the environment, target or table at fault.

use super::{ApiRules, Config, EnvironmentConfig, PushTargetConfig, ServePublic, StateConfig};
use crate::error::{Error, Result};
use crate::keys::decode_key;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use vexil_core::{AudienceKind, Expr};

/// First path segments of `vexil serve` that are not environments.
const SERVE_ROUTES: &[&str] = &["api", "healthz", "pkg", "www"];

/// Options of `feature set` that an environment switch must not shadow.
const RESERVED: &[&str] = &[
    "actors",
    "random",
    "user",
    "project",
    "group",
    "namespace",
    "repository",
    "feature-group",
    "force",
    "json",
    "author",
    "env",
    "match",
    "help",
    "version",
    "project-dir",
    "ignore-random-deprecation-check",
    "ignore-feature-flag-consistency-check",
    "ignore-production-check",
    "all",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default = "default_definitions")]
    definitions: Vec<PathBuf>,
    #[serde(default = "default_state")]
    state: String,
    default_environment: Option<String>,
    #[serde(default)]
    signing: RawSigning,
    #[serde(default)]
    consistency: RawConsistency,
    #[serde(default, rename = "environment")]
    environments: Vec<RawEnvironment>,
    #[serde(default)]
    groups: BTreeMap<String, toml::Value>,
    #[serde(default)]
    production_check: Option<RawProductionCheck>,
    #[serde(default)]
    serve: RawServe,
    #[serde(default)]
    api: RawApi,
    #[serde(default, rename = "notify")]
    sinks: Vec<super::notify::RawSink>,
    #[serde(default)]
    chat: super::chat::RawChat,
    #[serde(default)]
    rollouts: super::rollouts::RawRollouts,
    #[serde(default)]
    housekeeping: super::housekeeping::RawHousekeeping,
    #[serde(default)]
    refs: super::housekeeping::RawRefs,
    #[serde(default)]
    client_side: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApi {
    consistency_check: Option<bool>,
    random_deprecation_check: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServe {
    token: Option<String>,
    token_file: Option<PathBuf>,
    public: Option<String>,
    api: Option<bool>,
}

fn default_definitions() -> Vec<PathBuf> {
    vec![PathBuf::from("config/feature_flags")]
}

fn default_state() -> String {
    "sqlite:.vexil/state.db".into()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSigning {
    key: Option<PathBuf>,
    #[serde(default)]
    public_keys: Vec<String>,
    freshness: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConsistency {
    staging: Option<String>,
    production: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    name: String,
    #[serde(default, rename = "target")]
    targets: Vec<super::targets::RawTarget>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProductionCheck {
    command: String,
}

/// Where an environment's snapshots are pushed.
pub(super) fn parse(root: &Path, text: &str) -> Result<Config> {
    let raw: Raw = toml::from_str(text).map_err(|e| Error::refused(e.to_string().trim_end().to_string()))?;
    let state = parse_state(root, &raw.state)?;
    super::secrets::refuse_password_in_state(&raw.state)?;
    let mut environments: Vec<EnvironmentConfig> = Vec::new();
    for e in raw.environments {
        let valid = !e.name.is_empty()
            && e.name.as_bytes()[0].is_ascii_lowercase()
            && e.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(Error::refused(format!(
                "environment {:?}: names are lowercase letters, digits and dashes, starting with a letter (they become --{0} switches)",
                e.name
            )));
        }
        if SERVE_ROUTES.contains(&e.name.as_str()) {
            return Err(Error::refused(format!(
                "environment {:?}: the name is taken by a `vexil serve` route (/{0}/)",
                e.name
            )));
        }
        if RESERVED.contains(&e.name.as_str()) {
            return Err(Error::refused(format!(
                "environment {:?}: the name is taken by a `feature set` option",
                e.name
            )));
        }
        if environments.iter().any(|x| x.name == e.name) {
            return Err(Error::refused(format!("environment {:?} is listed twice", e.name)));
        }
        let mut targets: Vec<PushTargetConfig> = Vec::new();
        for (i, t) in e.targets.into_iter().enumerate() {
            let name =
                t.name.clone().unwrap_or_else(|| if i == 0 { "local".into() } else { format!("target{}", i + 1) });
            if targets.iter().any(|x| x.name == name) {
                return Err(Error::refused(format!("environment {:?}: two targets are called {name:?}", e.name)));
            }
            let audience = match t.audience.as_deref() {
                None => AudienceKind::Server,
                Some(a) => AudienceKind::from_name(a).ok_or_else(|| {
                    Error::refused(format!(
                        "environment {:?}, target {name:?}: audience {a:?} (expected \"server\" or \"browser\")",
                        e.name
                    ))
                })?,
            };
            let kind = super::targets::target_kind(root, &e.name, &name, t)?;
            targets.push(PushTargetConfig { name, kind, audience });
        }
        environments.push(EnvironmentConfig { name: e.name, targets });
    }
    if environments.is_empty() {
        return Err(Error::refused("no [[environment]] is defined"));
    }
    let names: Vec<String> = environments.iter().map(|e| e.name.clone()).collect();
    let has = |name: &str| environments.iter().any(|e| e.name == name);
    let default_environment = match raw.default_environment {
        Some(d) if has(&d) => d,
        Some(d) => return Err(Error::refused(format!("default_environment {d:?} is not a defined environment"))),
        None if has("production") => "production".into(),
        None => environments.last().map(|e| e.name.clone()).unwrap_or_default(),
    };
    let pick = |given: Option<String>, fallback: &str, role: &str| -> Result<Option<String>> {
        match given {
            Some(g) if has(&g) => Ok(Some(g)),
            Some(g) => Err(Error::refused(format!("[consistency] {role} = {g:?} is not a defined environment"))),
            None => Ok(has(fallback).then(|| fallback.to_string())),
        }
    };
    let staging = pick(raw.consistency.staging, "staging", "staging")?;
    let production = pick(raw.consistency.production, "production", "production")?;

    let mut groups = BTreeMap::new();
    for (name, value) in raw.groups {
        if !crate::definitions::valid_name(&name) {
            return Err(Error::refused(format!("group {name:?}: group names match ^[a-z0-9]+(_[a-z0-9]+)*$")));
        }
        let json = match value {
            toml::Value::String(text) => {
                serde_json::from_str(&text).map_err(|e| Error::refused(format!("group {name:?}: not JSON: {e}")))?
            }
            other => serde_json::to_value(other).map_err(|e| Error::refused(format!("group {name:?}: {e}")))?,
        };
        let expr = Expr::from_json(&json).map_err(|e| Error::refused(format!("group {name:?}: {e}")))?;
        groups.insert(name, expr);
    }

    for pattern in &raw.client_side {
        let valid = !pattern.is_empty()
            && pattern.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'*');
        if !valid {
            return Err(Error::refused(format!(
                "client_side: {pattern:?} is neither a flag name nor a pattern (lowercase letters, digits, `_`, and `*` for any run of them)"
            )));
        }
    }

    let mut public_keys = Vec::new();
    for k in &raw.signing.public_keys {
        public_keys.push(decode_key(k).map_err(|e| Error::refused(format!("[signing] public_keys: {e}")))?);
    }
    let freshness = match &raw.signing.freshness {
        None => crate::freshness::DEFAULT_LIFETIME,
        Some(text) => match crate::duration::parse(text) {
            Ok(d) if d >= std::time::Duration::from_secs(60) => d,
            Ok(_) => {
                return Err(Error::refused("[signing] freshness: at least 1m (clients' clocks differ by seconds)"))
            }
            Err(e) => return Err(Error::refused(format!("[signing] freshness: {e}"))),
        },
    };
    Ok(Config {
        root: root.to_path_buf(),
        definitions: raw.definitions,
        state,
        environments,
        default_environment,
        staging,
        production,
        groups,
        signing_key: raw.signing.key.map(|k| root.join(k)),
        public_keys,
        freshness,
        production_check: raw.production_check.map(|p| p.command),
        serve_token_file: super::secrets::serve_token_file(
            root,
            raw.serve.token.is_some(),
            raw.serve.token_file.as_deref(),
        )?,
        serve_api: raw.serve.api.unwrap_or(false),
        sinks: super::notify::parse(raw.sinks, &names)?,
        chat: super::chat::parse(raw.chat, &names)?,
        rollouts: super::rollouts::parse(raw.rollouts, &names)?,
        housekeeping: super::housekeeping::parse_housekeeping(raw.housekeeping)?,
        refs: super::housekeeping::parse_refs(raw.refs)?,
        api_rules: ApiRules {
            consistency_check: raw.api.consistency_check.unwrap_or(true),
            random_deprecation_check: raw.api.random_deprecation_check.unwrap_or(true),
        },
        serve_public: match raw.serve.public.as_deref() {
            None | Some("all") => ServePublic::All,
            Some("browser") => ServePublic::Browser,
            Some(other) => {
                return Err(Error::refused(format!("[serve] public = {other:?}: expected \"all\" or \"browser\"")))
            }
        },
        client_side: raw.client_side,
    })
}

/// Parses `state`: `sqlite:<path>` (relative to the project) or a PostgreSQL URL.
pub fn parse_state(root: &Path, state: &str) -> Result<StateConfig> {
    if state.starts_with("postgres://") || state.starts_with("postgresql://") {
        return Ok(StateConfig::Postgres(state.to_string()));
    }
    match state.split_once(':') {
        Some(("sqlite", path)) if !path.is_empty() => Ok(StateConfig::Sqlite(root.join(path))),
        _ => Err(Error::refused(format!(
            "state = {state:?}: expected \"sqlite:<path>\" or \"postgres://user@host:port/database\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use std::path::{Path, PathBuf};

    #[test]
    fn template_parses_with_gitlab_defaults() {
        let c = Config::parse(Path::new("/p"), &template()).unwrap();
        assert_eq!(c.environment_names(), GITLAB_ENVIRONMENTS);
        assert_eq!(c.default_environment, "production");
        assert_eq!((c.staging.as_deref(), c.production.as_deref()), (Some("staging"), Some("production")));
        assert_eq!(c.state, StateConfig::Sqlite(PathBuf::from("/p/.vexil/state.db")));
        assert!(c.groups.contains_key("gitlab_team_members"));
        assert_eq!(
            c.environments[5].targets[0].kind,
            PushTargetKind::Directory { path: PathBuf::from("/p/public/production") }
        );
    }

    #[test]
    fn object_and_http_targets() {
        let text = r#"
state = "postgres://vexil@db.internal:5432/flags"
[[environment]]
name = "production"
[[environment.target]]
name = "r2"
kind = "s3"
bucket = "flags"
prefix = "/production/"
endpoint = "https://acct.r2.cloudflarestorage.com"
region = "auto"
[[environment.target]]
name = "origin"
kind = "http"
url = "https://origin.example.com/flags/production/"
latest_max_age = 30
"#;
        let c = Config::parse(Path::new("/p"), text).unwrap();
        assert_eq!(c.state, StateConfig::Postgres("postgres://vexil@db.internal:5432/flags".into()));
        let targets = &c.environments[0].targets;
        assert_eq!(
            targets[0].kind,
            PushTargetKind::S3(S3Target {
                bucket: "flags".into(),
                prefix: "production".into(),
                endpoint: Some("https://acct.r2.cloudflarestorage.com".into()),
                region: Some("auto".into()),
                access_key_id: None,
                secret_access_key_file: None,
                latest_max_age: DEFAULT_LATEST_MAX_AGE,
            })
        );
        assert_eq!(
            targets[1].kind,
            PushTargetKind::Http { url: "https://origin.example.com/flags/production".into(), latest_max_age: 30 }
        );
    }

    #[test]
    fn client_side_patterns() {
        for (pattern, name, matches) in [
            ("checkout_*", "checkout_redesign", true),
            ("checkout_*", "checkout_", true),
            ("checkout_*", "new_checkout", false),
            ("*_banner", "promo_banner", true),
            ("*_banner", "promo_banner_2", false),
            ("new_*_bar", "new_navigation_bar", true),
            ("new_*_bar", "new_bar", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "acb", false),
            ("*", "anything", true),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ] {
            assert_eq!(glob_matches(pattern, name), matches, "{pattern} ~ {name}");
        }
    }

    #[test]
    fn refuses_with_the_field_named() {
        for (text, needle) in [
            ("[[environment]]\nname = \"Prod\"\n", "\"Prod\""),
            ("[[environment]]\nname = \"actors\"\n", "taken"),
            ("state = \"mysql:x\"\n[[environment]]\nname = \"a\"\n", "state"),
            ("[[environment]]\nname = \"a\"\n[[environment.target]]\nkind = \"ftp\"\n", "unknown kind"),
            ("[[environment]]\nname = \"a\"\n[[environment.target]]\nkind = \"s3\"\n", "target \"local\": an s3 target needs `bucket`"),
            ("[[environment]]\nname = \"a\"\n[[environment.target]]\nkind = \"directory\"\npath = \"p\"\nbucket = \"b\"\n", "takes no `bucket`"),
            ("[[environment]]\nname = \"a\"\n[[environment.target]]\nkind = \"http\"\nurl = \"ftp://x\"\n", "expected an http:// or https:// URL"),
            ("[[environment]]\nname = \"a\"\n[[environment.target]]\nkind = \"s3\"\nbucket = \"b\"\nendpoint = \"127.0.0.1:3900\"\n", "endpoint"),
            ("[[environment]]\nname = \"a\"\n[[environment.target]]\nkind = \"http\"\n", "needs `url`"),
            ("state = \"postgres\"\n[[environment]]\nname = \"a\"\n", "postgres://"),
            ("[[environment]]\nname = \"a\"\n[groups]\nx = { Nope = [] }\n", "unknown function"),
            ("bogus = 1\n", "unknown field"),
            ("default_environment = \"x\"\n[[environment]]\nname = \"a\"\n", "default_environment"),
        ] {
            let err = Config::parse(Path::new("/p"), text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }

    #[test]
    fn sinks_and_chat_users() {
        let env = "[consistency]\nproduction = \"production\"\n[[environment]]\nname = \"staging\"\n[[environment]]\nname = \"production\"\n";
        let text = format!(
            r##"{env}
[[notify]]
name = "audit"
kind = "webhook"
url = "https://audit.example.com/in"
secret_env = "AUDIT_SECRET"
max_backoff = "30s"
environments = ["production"]

[[notify]]
name = "e2e"
kind = "pipeline"
url = "https://gitlab.example.com/api/v4/projects/1/trigger/pipeline"
token_env = "TRIGGER_TOKEN"
ref = "main"

[chat]
production_channel = "#production"

[[chat.user]]
id = "U1"
name = "alice"
environments = ["*", "production"]
"##
        );
        let c = Config::parse(Path::new("/p"), &text).unwrap();
        assert_eq!(c.sinks.len(), 2);
        assert_eq!(c.sinks[0].max_backoff, std::time::Duration::from_secs(30));
        assert!(c.sinks[0].wants(&["production"]) && !c.sinks[0].wants(&["staging"]));
        assert!(c.sinks[1].wants(&["staging"]), "no environments: every one");
        assert_eq!(c.chat.production_channel.as_deref(), Some("production"), "the # is optional");
        assert_eq!(c.chat.user("U1").map(|u| u.name.as_str()), Some("alice"));
        assert!(c.chat.user("U2").is_none());
    }

    #[test]
    fn sinks_and_chat_users_refuse_with_the_field_named() {
        let env = "[[environment]]\nname = \"staging\"\n";
        let sink = |body: &str| format!("{env}[[notify]]\nname = \"s\"\n{body}");
        for (text, needle) in [
            (sink("kind = \"webhook\"\nurl = \"https://x\"\n"), "[[notify]] \"s\": a webhook needs secret_env"),
            (sink("kind = \"webhook\"\nurl = \"https://x\"\nsecret_env = \"whsec_abc\"\n"), "secret_env"),
            (sink("kind = \"slack\"\nurl = \"https://hooks.slack.com/services/T/B/X\"\n"), "url_env"),
            (sink("kind = \"mattermost\"\nurl = \"https://mm/hooks/x\"\n"), "its credential"),
            (sink("kind = \"slack\"\nurl_env = \"SLACK\"\nchannel = \"c\"\n"), "a slack sink takes no `channel`"),
            (sink("kind = \"pipeline\"\nurl = \"https://x\"\ntoken_env = \"T\"\n"), "needs ref"),
            (sink("kind = \"pipeline\"\nurl = \"https://x\"\nref = \"main\"\n"), "needs token_env"),
            (sink("kind = \"email\"\nurl = \"https://x\"\n"), "unknown kind \"email\""),
            (sink("kind = \"slack\"\n"), "needs url"),
            (sink("kind = \"webhook\"\nurl = \"x\"\nsecret_env = \"S\"\n"), "expected an http:// or https:// URL"),
            (
                sink("kind = \"slack\"\nurl_env = \"S\"\nenvironments = [\"prod\"]\n"),
                "environments: \"prod\" is not a defined environment",
            ),
            (sink("kind = \"slack\"\nurl_env = \"S\"\nmax_backoff = \"soon\"\n"), "max_backoff"),
            (sink("kind = \"slack\"\nurl_env = \"S\"\nsecret = \"x\"\n"), "unknown field `secret`"),
            (
                format!("{env}[[notify]]\nname = \"a\"\nkind = \"slack\"\nurl_env = \"S\"\n[[notify]]\nname = \"a\"\nkind = \"slack\"\nurl_env = \"S\"\n"),
                "two sinks have this name",
            ),
            (format!("{env}[[chat.user]]\nid = \"U1\"\nname = \"a\"\nenvironments = [\"prod\"]\n"), "[[chat.user]] \"U1\": environments"),
            (
                format!("{env}[[chat.user]]\nid = \"U1\"\nname = \"a\"\n[[chat.user]]\nid = \"U1\"\nname = \"b\"\n"),
                "each once",
            ),
            (format!("{env}[[chat.user]]\nid = \"U1\"\nname = \"\"\n"), "name"),
            (format!("{env}[chat]\nchannel = \"x\"\n"), "unknown field `channel`"),
        ] {
            let err = Config::parse(Path::new("/p"), &text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_password_in_the_state_url_is_refused_without_being_repeated() {
        for state in
            ["postgres://vexil:hunter2@db:5432/flags", "postgres://vexil@db/flags?sslmode=require&password=hunter2"]
        {
            let text = format!("state = {state:?}\n[[environment]]\nname = \"a\"\n");
            let e = Config::parse(Path::new("/p"), &text).unwrap_err().to_string();
            assert!(e.contains("leave the password out of vexil.toml"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
        assert_eq!(
            crate::store::redact("postgres://v@db/f?sslmode=require&password=x&application_name=a"),
            "postgres://v@db/f?sslmode=require&application_name=a"
        );
    }

    #[test]
    fn an_s3_secret_key_comes_from_the_environment_or_a_file_outside_the_project() {
        let target = |extra: &str| {
            format!("[[environment]]\nname = \"a\"\n[[environment.target]]\nname = \"cdn\"\nkind = \"s3\"\nbucket = \"b\"\n{extra}")
        };
        let e =
            Config::parse(Path::new("/p"), &target("secret_access_key = \"wJalrXUtnFEMI\"\n")).unwrap_err().to_string();
        assert!(e.contains("a secret does not belong in vexil.toml") && !e.contains("wJalrXUtnFEMI"), "{e}");
        let e =
            Config::parse(Path::new("/p"), &target("secret_access_key_file = \"keys/s3\"\n")).unwrap_err().to_string();
        assert!(e.contains("inside the project"), "{e}");
        let c = Config::parse(Path::new("/p"), &target("secret_access_key_file = \"/etc/vexil/s3\"\n")).unwrap();
        let PushTargetKind::S3(s3) = &c.environments[0].targets[0].kind else { panic!("an s3 target") };
        assert_eq!(s3.secret_access_key_file.as_deref(), Some(Path::new("/etc/vexil/s3")));
    }
}
