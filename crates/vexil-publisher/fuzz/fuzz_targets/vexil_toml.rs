//! Any text as vexil.toml: parsing must not panic; what parses must name an environment.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(config) = vexil_publisher::config::Config::parse(Path::new("/fuzz/project"), text) {
        assert!(!config.environments.is_empty());
    }
});
