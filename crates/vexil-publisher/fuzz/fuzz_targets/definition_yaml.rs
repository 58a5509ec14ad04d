//! Any text as a flag definition file: parsing must not panic, and must either give a
//! definition or name at least one problem, each with a line inside the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("config/feature_flags/beta/fuzzed_flag.yml");
    let (definition, problems) = vexil_publisher::definitions::parse(path, text);
    assert!(definition.is_some() || !problems.is_empty(), "neither a definition nor a problem");
    // Lines as YAML counts them: a lone CR breaks a line too.
    let lines = text.replace("\r\n", "\n").matches(['\n', '\r']).count() + 2;
    assert!(problems.iter().all(|p| (1..=lines).contains(&p.line)), "a problem on a line the file does not have");
});
