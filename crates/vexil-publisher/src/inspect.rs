//! `vexil inspect`: what a snapshot holds, decoded, as a typed report.

use crate::keys::encode_key;
use serde::ser::{Serialize, SerializeStruct, Serializer};
use std::collections::BTreeMap;
use vexil_core::{AudienceKind, Environment, Flag, Snapshot};

/// A decoded snapshot, for people.
#[derive(Clone, Debug)]
pub struct Inspection {
    /// The state it holds.
    pub state: Environment,
    /// Its size.
    pub bytes: usize,
    /// The signer's public key, base64.
    pub signer: Option<String>,
    /// Whether the signature was checked against trusted keys.
    pub verified: bool,
}

impl Inspection {
    /// `snapshot`, decoded with `trusted_keys` (empty: the signature was not checked).
    pub fn of(snapshot: &Snapshot, trusted_keys: &[[u8; 32]]) -> Inspection {
        Inspection {
            state: snapshot.to_environment(),
            bytes: snapshot.bytes().len(),
            signer: snapshot.signer().map(encode_key),
            verified: !trusted_keys.is_empty() && snapshot.signer().is_some(),
        }
    }

    /// Who the snapshot is for.
    pub fn audience(&self) -> AudienceKind {
        self.state.audience.kind()
    }
}

/// A flag's audience as people read it.
pub fn flag_audience(flag: &Flag) -> AudienceKind {
    if flag.client_side {
        AudienceKind::Browser
    } else {
        AudienceKind::Server
    }
}

impl Serialize for Inspection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let env = &self.state;
        let flags: BTreeMap<&String, serde_json::Value> = env
            .flags
            .iter()
            .map(|(name, f)| {
                let value = serde_json::json!({
                    "type": f.flag_type.name(),
                    "default_enabled": f.default_enabled,
                    "client_side": f.client_side,
                    "audience": flag_audience(f).name(),
                    "persisted": f.persisted,
                    "state": f.state().name(),
                    "gates": if f.persisted { crate::gates_json::to_json(&f.gates) } else { serde_json::Value::Null },
                });
                (name, value)
            })
            .collect();
        let groups: BTreeMap<&String, serde_json::Value> = env.groups.iter().map(|(k, e)| (k, e.to_json())).collect();
        let mut m = s.serialize_struct("Inspection", 9)?;
        m.serialize_field("environment", &env.name)?;
        m.serialize_field("version", &env.version)?;
        m.serialize_field("published_at", &env.published_at)?;
        m.serialize_field("bytes", &self.bytes)?;
        m.serialize_field("signer", &self.signer)?;
        m.serialize_field("verified", &self.verified)?;
        m.serialize_field("audience", self.audience().name())?;
        m.serialize_field("groups", &groups)?;
        m.serialize_field("flags", &flags)?;
        m.end()
    }
}
