//! Secrets and vexil.toml: the file is usually committed, so no secret is taken from it —
//! tokens, keys and passwords come from the environment or from files outside the project.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// A database URL in vexil.toml with a password in it (userinfo or `?password=`), refused
/// without repeating the password.
pub(super) fn refuse_password_in_state(state: &str) -> Result<()> {
    let redacted = crate::store::redact(state);
    if redacted != state {
        return Err(Error::refused(format!(
            "state = {redacted:?}: leave the password out of vexil.toml (it is usually committed); set VEXIL_DATABASE_PASSWORD or PGPASSWORD"
        )));
    }
    Ok(())
}

/// `[serve] token_file`: a file outside the project (vexil.toml and the project are usually
/// committed, so the token itself is never accepted there).
pub(super) fn serve_token_file(root: &Path, token_given: bool, token_file: Option<&Path>) -> Result<Option<PathBuf>> {
    if token_given {
        return Err(Error::refused(
            "[serve] token: a secret does not belong in vexil.toml (it is usually committed); set VEXIL_SERVE_TOKEN, or token_file = a file outside the project",
        ));
    }
    let Some(file) = token_file else { return Ok(None) };
    outside_project(root, "[serve] token_file", file).map(Some)
}

/// A secret's file, which must not be one the project's repository would hold.
pub(super) fn outside_project(root: &Path, field: &str, file: &Path) -> Result<PathBuf> {
    let path = root.join(file);
    let inside = path.components().all(|c| !matches!(c, std::path::Component::ParentDir)) && path.starts_with(root);
    if inside {
        return Err(Error::refused(format!(
            "{field} = {:?}: inside the project, so it would be committed with it; keep secrets outside (/etc/vexil/…)",
            file.display().to_string()
        )));
    }
    Ok(path)
}
