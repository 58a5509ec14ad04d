//! Inputs the fuzzer (fuzz/fuzz_targets/decode_evaluate.rs) found, kept as tests.

use vexil_core::{DecodeErrorKind, Snapshot};

/// A run with a single key declared Rice parameter 2: decodable, but not the one encoding
/// of its state, so it was refused only after the fix.
#[test]
fn single_key_run_with_nonzero_k() {
    let bytes = include_bytes!("fuzz_regressions/single_key_run_with_nonzero_k.vxl");
    assert_eq!(Snapshot::decode(bytes, &[]).unwrap_err().kind(), DecodeErrorKind::NotCanonical);
}

/// An allow-list entry spelled `User:1:opt_out`: the encoder refuses to write one (GitLab
/// would read it as an opt-out), so the decoder must refuse to read one.
#[test]
fn allow_list_opt_out_spelling() {
    let bytes = include_bytes!("fuzz_regressions/allow_list_opt_out_spelling.vxl");
    assert_eq!(Snapshot::decode(bytes, &[]).unwrap_err().kind(), DecodeErrorKind::NotCanonical);
}

/// An id `ÜUser:5` in an allow-list's text list, its kind absent from the kind table (found
/// after ~3.4 million executions): the encoder writes every `Kind:number` id as a run with
/// its kind in the table, so two byte strings decoded to one state and a snapshot's hash was
/// no longer its identity.
#[test]
fn unused_actor_kind() {
    let bytes = include_bytes!("fuzz_regressions/unused_actor_kind.vxl");
    assert_eq!(Snapshot::decode(bytes, &[]).map(|s| s.version()).unwrap_err().kind(), DecodeErrorKind::NotCanonical);
}
