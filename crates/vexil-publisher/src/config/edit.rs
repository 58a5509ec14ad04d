//! Changes vexil makes to `vexil.toml` itself (a new state database after `migrate`, a
//! trusted key after `keygen`): the document is edited in place, keeping its comments and
//! layout, and written whole through a temporary file and a rename, so a reader never sees a
//! half-written file.

use super::FILE;
use crate::atomic_file::write_atomically;
use crate::error::{Error, Result};
use std::path::Path;

fn edit(root: &Path, change: impl FnOnce(&mut toml_edit::DocumentMut)) -> Result<()> {
    let path = root.join(FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(format!("cannot read {}: {e}", path.display())))?;
    let mut doc: toml_edit::DocumentMut =
        text.parse().map_err(|e| Error::refused(format!("{}: {e}", path.display())))?;
    change(&mut doc);
    write_atomically(&path, doc.to_string().as_bytes())
}

/// Rewrites `state` in the project's `vexil.toml`.
pub fn set_state(root: &Path, state: &str) -> Result<()> {
    edit(root, |doc| doc["state"] = toml_edit::value(state))
}

/// Points `[signing] key` at `key_path` (relative to the project where it is inside it) and
/// adds `public_key` to `[signing] public_keys`, keeping the keys trusted before: SDKs still
/// holding them go on accepting snapshots signed before a rotation.
pub fn trust_signing_key(root: &Path, key_path: &Path, public_key: &str) -> Result<()> {
    let rel = key_path.strip_prefix(root).unwrap_or(key_path).display().to_string();
    edit(root, |doc| {
        let signing = doc.entry("signing").or_insert(toml_edit::table());
        signing["key"] = toml_edit::value(rel);
        let keys = signing["public_keys"].or_insert(toml_edit::value(toml_edit::Array::new()));
        if let Some(arr) = keys.as_array_mut() {
            if !arr.iter().any(|k| k.as_str() == Some(public_key)) {
                arr.push(public_key);
            }
        }
    })
}
