//! The search itself, on ripgrep's libraries: `ignore` walks the tree in parallel honouring
//! every .gitignore (inside a git repository or not), `grep` reads each file once, skipping
//! binary files as ripgrep does, and hands over only the lines the pattern matches.

use super::forms::Forms;
use crate::error::{Error, Result};
use grep::regex::RegexMatcherBuilder;
use grep::searcher::{BinaryDetection, Searcher, SearcherBuilder, Sink, SinkMatch};
use ignore::overrides::OverrideBuilder;
use ignore::{WalkBuilder, WalkState};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One line naming one flag.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Hit {
    /// The file, relative to the project.
    pub path: PathBuf,
    /// 1-based line.
    pub line: u64,
    /// 1-based column, in characters.
    pub column: u64,
    /// The flag.
    pub flag: String,
    /// The form that names it.
    pub form: String,
    /// The line, trimmed and cut at 200 characters.
    pub text: String,
}

/// What to search.
pub struct Tree<'a> {
    /// The project root; hits are relative to it.
    pub root: &'a Path,
    /// Paths under it to search.
    pub paths: &'a [PathBuf],
    /// Gitignore-style globs, relative to the root, never searched.
    pub exclude: &'a [String],
}

/// Every line of the tree the forms find, sorted by file, line and column; any file or
/// directory that cannot be read fails the search (a partial answer would let `cleanup`
/// remove a flag the code still names).
pub fn search(tree: &Tree<'_>, forms: &Forms) -> Result<(Vec<Hit>, u64)> {
    let matcher = RegexMatcherBuilder::new()
        .line_terminator(Some(b'\n'))
        .build(&forms.search)
        .map_err(|e| Error::refused(format!("the reference pattern does not compile: {e}")))?;
    let mut overrides = OverrideBuilder::new(tree.root);
    for glob in tree.exclude {
        overrides.add(&format!("!{glob}")).map_err(|e| Error::refused(format!("[refs] exclude {glob:?}: {e}")))?;
    }
    let overrides = overrides.build().map_err(|e| Error::refused(format!("[refs] exclude: {e}")))?;
    let mut starts = Vec::new();
    for p in tree.paths {
        // `./x` spelled plainly: exclusions match paths relative to the root, as spelled.
        let full: PathBuf = tree
            .root
            .components()
            .chain(p.components())
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        std::fs::metadata(&full).map_err(|e| Error::refused(format!("cannot search {}: {e}", full.display())))?;
        starts.push(full);
    }
    let Some((first, rest)) = starts.split_first() else { return Ok((Vec::new(), 0)) };
    let mut walk = WalkBuilder::new(first);
    for p in rest {
        walk.add(p);
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    walk.hidden(false)
        .require_git(false)
        .overrides(overrides)
        .threads(threads)
        .filter_entry(|e| e.file_name() != ".git");
    let hits = Mutex::new(Vec::new());
    let failures = Mutex::new(Vec::new());
    let files = std::sync::atomic::AtomicU64::new(0);
    walk.build_parallel().run(|| {
        let matcher = matcher.clone();
        let (hits, failures, files) = (&hits, &failures, &files);
        let mut searcher = SearcherBuilder::new().line_number(true).binary_detection(BinaryDetection::quit(0)).build();
        Box::new(move |entry| {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    failures.lock().expect("not poisoned").push(e.to_string());
                    return WalkState::Continue;
                }
            };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                return WalkState::Continue;
            }
            files.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = entry.path();
            let mut sink = Lines { forms, found: Vec::new(), binary: false };
            if let Err(e) = searcher.search_path(&matcher, path, &mut sink) {
                failures.lock().expect("not poisoned").push(format!("{}: {e}", path.display()));
                return WalkState::Continue;
            }
            if !sink.binary && !sink.found.is_empty() {
                let relative = path.strip_prefix(tree.root).unwrap_or(path).to_path_buf();
                let mut all = hits.lock().expect("not poisoned");
                all.extend(sink.found.into_iter().map(|(line, column, text, f)| Hit {
                    path: relative.clone(),
                    line,
                    column,
                    flag: f.flag,
                    form: f.form,
                    text,
                }));
            }
            WalkState::Continue
        })
    });
    let failures = failures.into_inner().expect("not poisoned");
    if !failures.is_empty() {
        let shown: Vec<&str> = failures.iter().take(5).map(String::as_str).collect();
        return Err(Error::io(format!(
            "cannot read the whole tree ({} error(s)); nothing is reported from a partial search:\n  {}",
            failures.len(),
            shown.join("\n  ")
        )));
    }
    let mut hits = hits.into_inner().expect("not poisoned");
    hits.sort_by(|a, b| (&a.path, a.line, a.column, &a.flag).cmp(&(&b.path, b.line, b.column, &b.flag)));
    Ok((hits, files.into_inner()))
}

/// Collects the flags on each matching line of one file, and whether it turned out binary.
struct Lines<'a> {
    forms: &'a Forms,
    found: Vec<(u64, u64, String, super::forms::Found)>,
    binary: bool,
}

impl Sink for Lines<'_> {
    type Error = std::io::Error;

    fn matched(&mut self, _: &Searcher, m: &SinkMatch<'_>) -> std::result::Result<bool, std::io::Error> {
        let line_number = m.line_number().unwrap_or(0);
        // A match may cover several lines only with multi-line search, which is off.
        let bytes = m.bytes();
        let line = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = String::from_utf8_lossy(line);
        let trimmed: String = text.trim().chars().take(200).collect();
        for f in self.forms.find(line) {
            let column = String::from_utf8_lossy(&line[..f.offset]).chars().count() as u64 + 1;
            self.found.push((line_number, column, trimmed.clone(), f));
        }
        Ok(true)
    }

    fn binary_data(&mut self, _: &Searcher, _offset: u64) -> std::result::Result<bool, std::io::Error> {
        // As ripgrep: a file with a NUL byte is not searched, and what was found is dropped.
        self.binary = true;
        Ok(false)
    }
}
