//! Embeds the dashboard (`www/`) and the npm package's browser files (`pkg/src/`, and
//! `pkg/dist/` and `pkg/cdn/` once scripts/build-wasm.sh and scripts/pack-npm.sh have built
//! them) into the `vexil` binary, so an installed `vexil serve` shows the dashboard in any
//! project. `vexil serve --www DIR` serves a checkout's files instead, for development.

use std::fmt::Write;
use std::path::{Path, PathBuf};

fn main() {
    let repo = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("../..");
    let mut out = String::new();
    for (name, dir, extensions) in [
        ("WWW", repo.join("www"), &["html", "js", "css", "svg", "png", "ico"][..]),
        ("PKG_SRC", repo.join("pkg/src"), &["js"][..]),
        ("PKG_DIST", repo.join("pkg/dist"), &["js", "wasm"][..]),
        // The prebuilt entry that a bootstrap's upgrade() loads (made by scripts/pack-npm.sh).
        ("PKG_CDN", repo.join("pkg/cdn"), &["js"][..]),
    ] {
        println!("cargo:rerun-if-changed={}", dir.display());
        let files = files(&dir, extensions);
        if name == "PKG_DIST" && files.is_empty() {
            println!(
                "cargo:warning=pkg/dist is not built: this vexil's dashboard will not load (run scripts/build-wasm.sh, then build again)"
            );
        }
        let _ = writeln!(out, "pub static {name}: &[(&str, &[u8])] = &[");
        for file in files {
            println!("cargo:rerun-if-changed={}", file.display());
            let rel = file.file_name().and_then(|n| n.to_str()).expect("UTF-8 file names");
            let _ = writeln!(out, "    ({rel:?}, include_bytes!({:?})),", file.display().to_string());
        }
        let _ = writeln!(out, "];");
    }
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("assets.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}

fn files(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().and_then(|e| e.to_str()).is_some_and(|e| extensions.contains(&e)))
        .collect();
    files.sort();
    files
}
