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
