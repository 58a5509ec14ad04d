//! The JS side's tables are exactly what the Rust definitions say.

#[test]
fn committed_tables_js_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(vexil_wasm::tables::PATH);
    let expected = vexil_wasm::tables::tables_js();
    if std::env::var_os("VEXIL_BLESS").is_some() {
        std::fs::write(&path, &expected).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == expected,
        "{} differs from the Rust definitions; rerun with VEXIL_BLESS=1 to regenerate it:\n{expected}",
        path.display()
    );
}
