//! The fuzzers' corpora for the definition YAML and vexil.toml parsers (fuzz/corpus/,
//! grown by the campaigns the README records), replayed through the same checks as the
//! fuzz targets on every test run: no panic, a definition or a problem on a real line, and
//! a parsed vexil.toml names an environment.

use std::path::Path;

fn corpus(name: &str) -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(name);
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter_map(|p| Some((p.display().to_string(), String::from_utf8(std::fs::read(&p).ok()?).ok()?)))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
}

#[test]
fn definition_yaml_corpus() {
    let path = Path::new("config/feature_flags/beta/fuzzed_flag.yml");
    for (file, text) in corpus("definition_yaml") {
        let (definition, problems) = vexil_publisher::definitions::parse(path, &text);
        assert!(definition.is_some() || !problems.is_empty(), "{file}: neither a definition nor a problem");
        // Lines as YAML counts them: a lone CR breaks a line too.
        let lines = text.replace("\r\n", "\n").matches(['\n', '\r']).count() + 2;
        assert!(problems.iter().all(|p| (1..=lines).contains(&p.line)), "{file}: a problem off the file's lines");
    }
}

#[test]
fn vexil_toml_corpus() {
    for (file, text) in corpus("vexil_toml") {
        if let Ok(config) = vexil_publisher::config::Config::parse(Path::new("/fuzz/project"), &text) {
            assert!(!config.environments.is_empty(), "{file}");
        }
    }
}
