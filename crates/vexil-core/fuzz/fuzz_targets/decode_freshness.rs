//! Any bytes as a freshness statement: decoding must not panic, and one that decodes (with a
//! verifier that accepts every signature, so the parser past the trailer is reached) must be
//! checkable against a snapshot at any time without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vexil_core::{encode, Environment, Freshness, SigningKey, Snapshot, Verifier};

struct Accepting;

impl Verifier for Accepting {
    fn verify(&self, _: &[u8; 32], _: &[u8], _: &[u8; 64]) -> bool {
        true
    }
}

thread_local! {
    // Snapshots are not Sync (they borrow the host's float text); one per fuzzing thread.
    static SNAPSHOT: Snapshot = {
        let key = SigningKey::from_seed([7; 32]).unwrap();
        Snapshot::decode(&encode(&Environment::new("production", 3, 0), Some(&key)).unwrap(), &[]).unwrap()
    };
}

fuzz_target!(|data: &[u8]| {
    // The key the input claims, trusted: only the verifier stands between it and the parser.
    let claimed = data.len().checked_sub(96).map(|at| &data[at..at + 32]);
    let key: [u8; 32] = claimed.and_then(|k| k.try_into().ok()).unwrap_or([0; 32]);
    let Ok(statement) = Freshness::decode_with(data, &[key], &Accepting) else { return };
    for now in [i64::MIN, 0, statement.expires_at(), statement.expires_at().saturating_add(1), i64::MAX] {
        SNAPSHOT.with(|s| {
            let _ = s.check_freshness(&statement, now);
        });
    }
    assert!(statement.environment().len() < data.len());
});
