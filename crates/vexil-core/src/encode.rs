//! Encoding an [`Environment`] into snapshot bytes, canonically, optionally signed.

use crate::actor::ActorKey;
use crate::limits::MAX_ACTOR_IDS;
use crate::model::{ActorSet, Audience, Environment};
use crate::snapshot::{BIT_BOOLEAN, BIT_CLIENT_SIDE, BIT_DEFAULT_ENABLED, BIT_PERSISTED, FORMAT_VERSION, MAGIC};
use crate::wire::rice::{best_k, BitWriter};
use crate::wire::Writer;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// An ed25519 key that signs snapshots.
#[derive(Clone)]
pub struct SigningKey(ed25519_compact::KeyPair);

impl SigningKey {
    /// The key pair derived from a 32-byte secret seed (generate it from a CSPRNG); `None`
    /// for the all-zero seed, which no random source produces.
    pub fn from_seed(seed: [u8; 32]) -> Option<SigningKey> {
        ed25519_compact::KeyPair::try_from_seed(ed25519_compact::Seed::new(seed)).ok().map(SigningKey)
    }

    /// The public key SDKs are given to verify snapshots.
    pub fn public_key(&self) -> [u8; 32] {
        *self.0.pk
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        // Deterministic signatures (no noise) keep encoding canonical: same state, same bytes.
        *self.0.sk.sign(message, None)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SigningKey").field(&"<secret>").finish()
    }
}

/// Why an environment cannot be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeError {
    flag: Option<String>,
    message: String,
}

impl EncodeError {
    pub(crate) fn new(flag: Option<&str>, message: impl Into<String>) -> Self {
        EncodeError { flag: flag.map(String::from), message: message.into() }
    }
    /// The flag at fault, if one is.
    pub fn flag(&self) -> Option<&str> {
        self.flag.as_deref()
    }
    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.flag {
            Some(flag) => write!(f, "flag `{flag}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl core::error::Error for EncodeError {}

/// Encodes `env`, signing it when a key is given.
pub fn encode(env: &Environment, key: Option<&SigningKey>) -> Result<Vec<u8>, EncodeError> {
    let browser = matches!(env.audience, Audience::Browser { .. });

    let mut kinds: BTreeSet<&str> = BTreeSet::new();
    let mut group_names: BTreeSet<&str> = env.groups.keys().map(String::as_str).collect();
    for (name, flag) in &env.flags {
        let err = |m: &str| EncodeError::new(Some(name), m);
        if name.is_empty() {
            return Err(err("empty flag name"));
        }
        if !flag.persisted && !flag.gates.is_empty() {
            return Err(err("gates set on a flag that is not persisted"));
        }
        if browser && !flag.client_side {
            return Err(err("a browser snapshot holds only client-side flags"));
        }
        if let Some(e) = &flag.gates.expression {
            e.validate().map_err(|e| EncodeError::new(Some(name), alloc::format!("expression {e}")))?;
        }
        // GitLab spells an opt-out as the actor entry `<id>:opt_out`; in an allow-list it would
        // be read as one, so it must be given as an opt-out instead.
        if flag.gates.actors.ids().any(|id| id.ends_with(":opt_out")) {
            return Err(err("allow-list entries may not end in `:opt_out`: list the actor as opted out"));
        }
        for set in [&flag.gates.actors, &flag.gates.opt_outs] {
            match (set, browser) {
                (ActorSet::Ids(ids), false) => {
                    for id in ids {
                        if let ActorKey::Numeric { kind, .. } = ActorKey::of(id) {
                            kinds.insert(kind);
                        }
                    }
                }
                (ActorSet::Hashed(_), true) => {}
                _ => return Err(err("actor ids must be hashed in browser snapshots, and only there")),
            }
        }
        group_names.extend(flag.gates.groups.iter().map(String::as_str));
    }
    for (name, e) in &env.groups {
        if name.is_empty() {
            return Err(EncodeError::new(None, "empty feature group name"));
        }
        e.validate().map_err(|e| EncodeError::new(None, alloc::format!("feature group `{name}`: {e}")))?;
    }
    let packed: usize = env.flags.values().flat_map(|f| [&f.gates.actors, &f.gates.opt_outs]).map(packed_ids).sum();
    if packed > MAX_ACTOR_IDS {
        return Err(EncodeError::new(
            None,
            alloc::format!("{packed} numeric actor ids over all allow-lists and opt-outs: at most {MAX_ACTOR_IDS}"),
        ));
    }
    let kind_index: BTreeMap<&str, u64> = kinds.iter().enumerate().map(|(i, k)| (*k, i as u64)).collect();
    let group_index: BTreeMap<&str, u64> = group_names.iter().enumerate().map(|(i, g)| (*g, i as u64)).collect();

    let mut w = Writer { out: Vec::new() };
    w.out.extend_from_slice(&MAGIC);
    w.byte(FORMAT_VERSION);
    w.str(&env.name);
    w.varint(env.version);
    w.zigzag(env.published_at);
    match &env.audience {
        Audience::Server => w.varint(0),
        Audience::Browser { salt } => {
            w.varint(1);
            w.out.extend_from_slice(salt);
        }
    }
    w.varint(kinds.len() as u64);
    for k in &kinds {
        w.str(k);
    }
    w.varint(group_names.len() as u64);
    for g in &group_names {
        w.str(g);
        match env.groups.get(*g) {
            Some(e) => {
                w.bool(true);
                e.encode(&mut w);
            }
            None => w.bool(false),
        }
    }

    let mut bits = BitWriter::new();
    w.varint(env.flags.len() as u64);
    for (name, flag) in &env.flags {
        w.str(name);
        w.varint(flag.flag_type as u64);
        let g = &flag.gates;
        let mut b = 0;
        for (on, bit) in [
            (flag.default_enabled, BIT_DEFAULT_ENABLED),
            (flag.persisted, BIT_PERSISTED),
            (g.boolean, BIT_BOOLEAN),
            (flag.client_side, BIT_CLIENT_SIDE),
        ] {
            if on {
                b |= bit;
            }
        }
        w.byte(b);
        w.varint(u64::from(g.percentage_of_actors.thousandths()));
        w.varint(u64::from(g.percentage_of_time.thousandths()));
        for set in [&g.actors, &g.opt_outs] {
            encode_set(&mut w, &mut bits, set, &kind_index);
        }
        w.varint(g.groups.len() as u64);
        for group in &g.groups {
            w.varint(group_index[group.as_str()]);
        }
        match &g.expression {
            Some(e) => {
                w.bool(true);
                e.encode(&mut w);
            }
            None => w.bool(false),
        }
    }
    w.bytes(&bits.out);

    match key {
        None => w.byte(0),
        Some(key) => {
            let signature = key.sign(&w.out);
            w.byte(1);
            w.out.extend_from_slice(&key.public_key());
            w.out.extend_from_slice(&signature);
        }
    }
    Ok(w.out)
}

/// The ids of `set` that decoding expands into keys (numeric ids, or hashes): what
/// [`MAX_ACTOR_IDS`] counts.
fn packed_ids(set: &ActorSet) -> usize {
    match set {
        ActorSet::Hashed(hashes) => hashes.len(),
        ActorSet::Ids(ids) => ids.iter().filter(|id| matches!(ActorKey::of(id), ActorKey::Numeric { .. })).count(),
    }
}

fn encode_set(w: &mut Writer, bits: &mut BitWriter, set: &ActorSet, kind_index: &BTreeMap<&str, u64>) {
    match set {
        ActorSet::Hashed(hashes) => {
            w.varint(hashes.len() as u64 * 8);
            for h in hashes {
                w.out.extend_from_slice(&h.to_le_bytes());
            }
        }
        ActorSet::Ids(ids) => {
            let mut runs: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
            let mut texts: Vec<&str> = Vec::new();
            for id in ids {
                match ActorKey::of(id) {
                    ActorKey::Numeric { kind, key } => runs.entry(kind_index[kind]).or_default().push(key),
                    ActorKey::Text(t) => texts.push(t),
                }
            }
            w.varint(runs.len() as u64);
            for (kind, mut keys) in runs {
                keys.sort_unstable();
                let gaps: Vec<u64> = keys.windows(2).map(|p| p[1] - p[0] - 1).collect();
                let k = best_k(&gaps);
                w.varint(kind);
                w.varint(keys.len() as u64);
                w.varint(keys[0]);
                w.byte(k);
                for gap in gaps {
                    bits.write(gap, k);
                }
            }
            // BTreeSet order is byte order, which the decoder checks.
            w.varint(texts.len() as u64);
            for t in texts {
                w.str(t);
            }
        }
    }
}
