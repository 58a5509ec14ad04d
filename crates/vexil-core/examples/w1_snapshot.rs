//! Writes workload W1 as vexil snapshots, for the JavaScript benchmarks:
//! `cargo run --release -p vexil-core --all-features --example w1_snapshot -- DIR` reads
//! `DIR/spec.json` (from `node ../shared/bench/w1-gen.cjs DIR`) and writes `DIR/w1.vxl`,
//! `DIR/w1.signed.vxl` and `DIR/w1.pub` (the public key, base64).

use std::path::PathBuf;
use vexil_core::{encode, Environment, Flag, FlagType, Percentage, SigningKey};

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "target/w1".into()));
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("spec.json")).expect("spec.json: run w1-gen.cjs first"))
            .expect("JSON");
    let rollout = Percentage::parse(&spec["rolloutPercent"].to_string()).expect("percentage");
    let mut env = Environment::new("production", 1, 1_700_000_000_000);
    for f in spec["flags"].as_array().expect("flags") {
        let mut flag = Flag::new(FlagType::Beta, false);
        flag.persisted = true;
        flag.client_side = true;
        for id in f["allow"].as_array().expect("allow") {
            flag.gates.actors.insert(id.as_str().expect("id").to_string());
        }
        flag.gates.percentage_of_actors = rollout;
        env.flags.insert(f["name"].as_str().expect("name").to_string(), flag);
    }
    let key = SigningKey::from_seed([42; 32]).expect("non-zero seed");
    std::fs::write(dir.join("w1.vxl"), encode(&env, None).expect("encodes")).expect("write");
    std::fs::write(dir.join("w1.signed.vxl"), encode(&env, Some(&key)).expect("encodes")).expect("write");
    let pk = key.public_key();
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::new();
    for chunk in pk.chunks(3) {
        let n = chunk.iter().fold(0u32, |a, &b| a << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            text.push(if i <= chunk.len() { B64[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
        }
    }
    std::fs::write(dir.join("w1.pub"), text + "\n").expect("write");
}
