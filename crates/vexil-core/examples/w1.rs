//! Writes workload W1 (benches/support/w1.rs) for the JavaScript benchmarks:
//! `cargo run --release -p vexil-core --all-features --example w1 -- DIR` writes the
//! workload's files, its snapshot `w1.vxl` (every flag client-side, so the browser-audience
//! benchmarks can derive theirs), `w1.signed.vxl` and its public key `w1.pub` (base64).

#[path = "../tests/support/rng.rs"]
mod rng;
#[path = "../benches/support/w1.rs"]
mod workload;

use std::path::PathBuf;
use vexil_core::{encode, SigningKey};

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "target/w1".into()));
    let w1 = workload::W1::generate();
    w1.write(&dir)?;
    let env = w1.environment(true);
    let key = SigningKey::from_seed([42; 32]).expect("non-zero seed");
    std::fs::write(dir.join("w1.vxl"), encode(&env, None).expect("W1 encodes"))?;
    std::fs::write(dir.join("w1.signed.vxl"), encode(&env, Some(&key)).expect("W1 encodes"))?;
    std::fs::write(dir.join("w1.pub"), base64(&key.public_key()) + "\n")?;
    eprintln!("w1: {} flags, {} users, {} pairs -> {}", w1.flags.len(), w1.users.len(), w1.pairs.len(), dir.display());
    Ok(())
}

fn base64(bytes: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |a, &b| a << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            text.push(if i <= chunk.len() { B64[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
        }
    }
    text
}
