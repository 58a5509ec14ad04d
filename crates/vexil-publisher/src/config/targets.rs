//! `[[environment.target]]`: where an environment's snapshots are pushed — a directory, an
//! S3-compatible bucket or an HTTP origin — each kind taking only its own fields.

use super::{PushTargetKind, S3Target, DEFAULT_LATEST_MAX_AGE};
use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    pub(super) name: Option<String>,
    pub(super) kind: String,
    /// directory
    pub(super) path: Option<PathBuf>,
    /// s3
    pub(super) bucket: Option<String>,
    pub(super) prefix: Option<String>,
    pub(super) endpoint: Option<String>,
    pub(super) region: Option<String>,
    pub(super) access_key_id: Option<String>,
    pub(super) secret_access_key: Option<String>,
    pub(super) secret_access_key_file: Option<PathBuf>,
    /// http
    pub(super) url: Option<String>,
    /// Seconds CDNs may cache latest.vxl (s3 and http; immutable versions are cached for a year).
    pub(super) latest_max_age: Option<u32>,
    /// `server` (every flag) or `browser` (client-side flags, ids hashed).
    pub(super) audience: Option<String>,
}

/// Reads one `[[environment.target]]`, refusing fields its kind does not take: a stray
/// `bucket` on a directory target is a mistake worth naming, not ignoring.
pub(super) fn target_kind(root: &Path, environment: &str, name: &str, t: RawTarget) -> Result<PushTargetKind> {
    let at = |msg: String| Error::refused(format!("environment {environment:?}, target {name:?}: {msg}"));
    let given: Vec<&str> = [
        ("path", t.path.is_some()),
        ("bucket", t.bucket.is_some()),
        ("prefix", t.prefix.is_some()),
        ("endpoint", t.endpoint.is_some()),
        ("region", t.region.is_some()),
        ("access_key_id", t.access_key_id.is_some()),
        ("secret_access_key_file", t.secret_access_key_file.is_some()),
        ("url", t.url.is_some()),
        ("latest_max_age", t.latest_max_age.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, set)| set.then_some(field))
    .collect();
    let allowed: &[&str] = match t.kind.as_str() {
        "directory" => &["path"],
        "s3" => {
            &["bucket", "prefix", "endpoint", "region", "access_key_id", "secret_access_key_file", "latest_max_age"]
        }
        "http" => &["url", "latest_max_age"],
        other => return Err(at(format!("unknown kind {other:?} (expected \"directory\", \"s3\" or \"http\")"))),
    };
    if t.secret_access_key.is_some() {
        return Err(at(
            "secret_access_key: a secret does not belong in vexil.toml (it is usually committed); set AWS_SECRET_ACCESS_KEY, or secret_access_key_file = a file outside the project".into(),
        ));
    }
    if let Some(field) = given.iter().find(|f| !allowed.contains(f)) {
        return Err(at(format!("a {} target takes no `{field}` (it takes {})", t.kind, allowed.join(", "))));
    }
    let latest_max_age = t.latest_max_age.unwrap_or(DEFAULT_LATEST_MAX_AGE);
    Ok(match t.kind.as_str() {
        "directory" => PushTargetKind::Directory {
            path: root.join(t.path.ok_or_else(|| at("a directory target needs `path`".into()))?),
        },
        "s3" => {
            let bucket = t.bucket.filter(|b| !b.is_empty()).ok_or_else(|| at("an s3 target needs `bucket`".into()))?;
            if let Some(endpoint) = &t.endpoint {
                if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                    return Err(at(format!("endpoint {endpoint:?}: expected an http:// or https:// URL")));
                }
            }
            PushTargetKind::S3(S3Target {
                bucket,
                prefix: t.prefix.unwrap_or_default().trim_matches('/').to_string(),
                endpoint: t.endpoint,
                region: t.region,
                access_key_id: t.access_key_id,
                secret_access_key_file: t
                    .secret_access_key_file
                    .map(|f| super::secrets::outside_project(root, "secret_access_key_file", &f))
                    .transpose()
                    .map_err(|e| at(e.to_string()))?,
                latest_max_age,
            })
        }
        _ => {
            let url = t.url.ok_or_else(|| at("an http target needs `url`".into()))?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(at(format!("url {url:?}: expected an http:// or https:// URL")));
            }
            PushTargetKind::Http { url: url.trim_end_matches('/').to_string(), latest_max_age }
        }
    })
}
