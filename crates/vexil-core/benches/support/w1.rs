//! Workload W1, generated here so that `make bench` needs nothing but this repository: 1,000
//! flags (`flag_0000`…), each with 10 allow-listed users and a 25% percentage-of-actors
//! rollout; 10,000 users (`User:0`…`User:9999`); 1,000,000 (flag, user) pairs to evaluate.
//! Deterministic (SplitMix64 from a fixed seed; the including target provides `crate::rng`,
//! tests/support/rng.rs), so every run and every SDK sees the same pairs. The same workload is written in three peers' own formats for their benchmarks:
//! Unleash strategies, GrowthBook rules and flagd's JSON-Logic targeting.

#![allow(dead_code)]

use serde_json::{json, Value as Json};
use std::collections::BTreeSet;
use std::path::Path;
use vexil_core::{Environment, Flag, FlagType, Percentage};

pub const FLAGS: usize = 1_000;
pub const USERS: usize = 10_000;
pub const ALLOW_LISTED: usize = 10;
pub const ROLLOUT_PERCENT: u32 = 25;
pub const PAIRS: usize = 1_000_000;
const SEED: u64 = 0x5745_4c31_5345_4544;

pub struct W1 {
    /// Flag names, and each flag's allow-list.
    pub flags: Vec<(String, Vec<String>)>,
    pub users: Vec<String>,
    /// Indexes into `flags` and `users`.
    pub pairs: Vec<(u16, u16)>,
}

impl W1 {
    pub fn generate() -> W1 {
        let mut rng = crate::rng::Rng(SEED);
        let flags = (0..FLAGS)
            .map(|f| {
                let mut allow = BTreeSet::new();
                while allow.len() < ALLOW_LISTED {
                    allow.insert(rng.below(USERS as u64) as usize);
                }
                (format!("flag_{f:04}"), allow.into_iter().map(|u| format!("User:{u}")).collect())
            })
            .collect();
        let pairs = (0..PAIRS).map(|_| (rng.below(FLAGS as u64) as u16, rng.below(USERS as u64) as u16)).collect();
        W1 { flags, users: (0..USERS).map(|u| format!("User:{u}")).collect(), pairs }
    }

    /// The workload as one environment's state; `client_side` marks every flag.
    pub fn environment(&self, client_side: bool) -> Environment {
        let mut env = Environment::new("production", 1, 1_700_000_000_000);
        let rollout = Percentage::from_thousandths(ROLLOUT_PERCENT * 1000).expect("a percentage");
        for (name, allow) in &self.flags {
            let mut flag = Flag::new(FlagType::Beta, false);
            flag.persisted = true;
            flag.client_side = client_side;
            flag.gates.actors = vexil_core::ActorSet::Ids(allow.iter().cloned().collect());
            flag.gates.percentage_of_actors = rollout;
            env.flags.insert(name.clone(), flag);
        }
        env
    }

    /// Unleash's client features (`/api/client/features`): `userWithId` for the allow-list,
    /// then a flexible rollout sticky on the user id.
    pub fn unleash(&self) -> Json {
        let features: Vec<Json> = self
            .flags
            .iter()
            .map(|(name, allow)| {
                json!({
                    "name": name, "type": "release", "enabled": true, "project": "default", "stale": false,
                    "impressionData": false, "variants": [],
                    "strategies": [
                        { "name": "userWithId", "constraints": [], "parameters": { "userIds": allow.join(",") } },
                        { "name": "flexibleRollout", "constraints": [],
                          "parameters": { "rollout": ROLLOUT_PERCENT.to_string(), "stickiness": "userId", "groupId": name } },
                    ],
                })
            })
            .collect();
        json!({ "version": 2, "features": features })
    }

    /// GrowthBook's features payload: a forced rule on the id list, then a forced rule with
    /// coverage on `id`.
    pub fn growthbook(&self) -> Json {
        let features: serde_json::Map<String, Json> = self
            .flags
            .iter()
            .map(|(name, allow)| {
                let rules = json!([
                    { "condition": { "id": { "$in": allow } }, "force": true },
                    { "force": true, "coverage": f64::from(ROLLOUT_PERCENT) / 100.0, "hashAttribute": "id" },
                ]);
                (name.clone(), json!({ "defaultValue": false, "rules": rules }))
            })
            .collect();
        json!({ "features": features })
    }

    /// flagd's flag definitions: `in` the allow-list, else `fractional`.
    pub fn flagd(&self) -> Json {
        let flags: serde_json::Map<String, Json> = self
            .flags
            .iter()
            .map(|(name, allow)| {
                let targeting = json!({ "if": [
                    { "in": [{ "var": "targetingKey" }, allow] },
                    "on",
                    { "fractional": [["on", ROLLOUT_PERCENT], ["off", 100 - ROLLOUT_PERCENT]] },
                ]});
                let flag = json!({ "state": "ENABLED", "variants": { "on": true, "off": false },
                                   "defaultVariant": "off", "targeting": targeting });
                (name.clone(), flag)
            })
            .collect();
        json!({ "$schema": "https://flagd.dev/schema/v0/flags.json", "flags": flags })
    }

    /// `dir/spec.json` (every flag and its allow-list), `dir/pairs.bin` (u16 flag, u16 user,
    /// little-endian) and the peers' formats, for the JavaScript benchmarks.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let flags: Vec<Json> = self.flags.iter().map(|(name, allow)| json!({ "name": name, "allow": allow })).collect();
        let spec = json!({ "nFlags": FLAGS, "nUsers": USERS, "nPairs": PAIRS, "rolloutPercent": ROLLOUT_PERCENT, "flags": flags });
        std::fs::write(dir.join("spec.json"), spec.to_string())?;
        let pairs: Vec<u8> = self.pairs.iter().flat_map(|(f, u)| [f.to_le_bytes(), u.to_le_bytes()].concat()).collect();
        std::fs::write(dir.join("pairs.bin"), pairs)?;
        std::fs::write(dir.join("unleash.json"), self.unleash().to_string())?;
        std::fs::write(dir.join("growthbook.json"), self.growthbook().to_string())?;
        std::fs::write(dir.join("flagd.json"), self.flagd().to_string())
    }
}
