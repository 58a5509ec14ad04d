//! Push targets: where an environment's snapshots go, in the layout of the wire contract —
//! `latest.vxl` (the newest snapshot) and `v/<version>.vxl` (immutable).
//!
//! A push writes the missing immutable versions first and `latest.vxl` last, each through a
//! temporary file renamed into place, so readers only ever see complete snapshots; it holds
//! a lock while it reads and replaces `latest.vxl`, and never replaces it with an older
//! version.

use crate::config::{TargetConfig, TargetKind};
use crate::error::{Context, Error, Result};
use crate::store::{Store, VersionRow};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use vexil_core::Snapshot;

/// One environment's target.
pub struct Target {
    /// The environment.
    pub environment: String,
    /// The target's configuration.
    pub config: TargetConfig,
    lock_dir: PathBuf,
}

/// What a target holds, compared with the database.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum TargetState {
    /// Nothing published there yet.
    Empty,
    /// Its `latest.vxl` is this version, byte-identical to the database's.
    At {
        /// The version.
        version: u64,
    },
}

impl Target {
    /// The target `config` of `environment`; `lock_dir` holds the push locks.
    pub fn new(environment: &str, config: TargetConfig, lock_dir: &Path) -> Target {
        Target { environment: environment.to_string(), config, lock_dir: lock_dir.to_path_buf() }
    }

    /// "environment production, target local (directory public/production)".
    pub fn describe(&self) -> String {
        match &self.config.kind {
            TargetKind::Directory { path } => {
                format!("environment {}, target {} (directory {})", self.environment, self.config.name, path.display())
            }
        }
    }

    fn dir(&self) -> &Path {
        match &self.config.kind {
            TargetKind::Directory { path } => path,
        }
    }

    /// Checks, without changing anything, that a push could succeed: the target exists and
    /// is writable, and what it holds is a snapshot the database published.
    pub fn check(&self, store: &mut dyn Store) -> Result<TargetState> {
        let dir = self.dir();
        let meta = std::fs::metadata(dir).map_err(|e| {
            Error::io(format!(
                "{}: {e} (vexil init creates target directories; create it or fix vexil.toml)",
                self.describe()
            ))
        })?;
        if !meta.is_dir() {
            return Err(Error::io(format!("{}: not a directory", self.describe())));
        }
        // Mode bits, not access(2): as root every directory is writable, and a directory
        // someone made read-only should still stop a push.
        if meta.permissions().mode() & 0o222 == 0 {
            return Err(Error::io(format!("{}: the directory is read-only", self.describe())));
        }
        self.state(store)
    }

    /// What the target holds: its `latest.vxl`, checked against the database.
    pub fn state(&self, store: &mut dyn Store) -> Result<TargetState> {
        let latest = self.dir().join("latest.vxl");
        let bytes = match std::fs::read(&latest) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TargetState::Empty),
            Err(e) => return Err(Error::io(format!("{}: cannot read latest.vxl: {e}", self.describe()))),
        };
        let tampered = |why: String| {
            Error::io(format!(
                "{}: latest.vxl is not a snapshot this database published ({why}); `vexil publish --repair` rewrites it",
                self.describe()
            ))
        };
        // The database's copy is the authority: the bytes must be exactly those it published
        // for that version (a signature alone would not catch an old, validly signed file).
        let snapshot = Snapshot::decode(&bytes, &[]).map_err(|e| tampered(e.to_string()))?;
        let version = snapshot.version();
        match store.version(&self.environment, version)? {
            Some(row) if row.snapshot == bytes => Ok(TargetState::At { version }),
            Some(_) => Err(tampered(format!("version {version} differs from the database's"))),
            None => Err(tampered(format!("the database has no version {version}"))),
        }
    }

    /// Brings the target up to `latest`: writes the immutable versions it lacks, then
    /// `latest.vxl`. With `repair`, rewrites whatever it holds.
    pub fn push(&self, store: &mut dyn Store, repair: bool) -> Result<PushOutcome> {
        let _lock = self.lock()?;
        let Some(latest) = store.latest(&self.environment)? else { return Ok(PushOutcome::Nothing) };
        let from = match self.state(store) {
            Ok(TargetState::At { version }) if !repair => version,
            Ok(_) => 0,
            Err(_) if repair => 0,
            Err(e) => return Err(e),
        };
        if from >= latest.version {
            return Ok(PushOutcome::UpToDate { version: from });
        }
        let versions_dir = self.dir().join("v");
        std::fs::create_dir_all(&versions_dir).context(format!("{}: cannot create v/", self.describe()))?;
        // A push killed half-way leaves its temporary files behind; nobody else writes them
        // while we hold the lock.
        for dir in [self.dir(), versions_dir.as_path()] {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let name = entry.file_name();
                if name.to_string_lossy().starts_with('.') && name.to_string_lossy().contains(".tmp-") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        // A repair rewrites only the newest version; older immutable files are left alone.
        let missing: Vec<VersionRow> =
            if from == 0 && repair { vec![latest.clone()] } else { store.versions_after(&self.environment, from)? };
        for row in &missing {
            let path = versions_dir.join(format!("{}.vxl", row.version));
            if std::fs::read(&path).is_ok_and(|b| b == row.snapshot) {
                continue;
            }
            write_atomically(&path, &row.snapshot).map_err(|e| e.context(self.describe()))?;
        }
        write_atomically(&self.dir().join("latest.vxl"), &latest.snapshot).map_err(|e| e.context(self.describe()))?;
        Ok(PushOutcome::Pushed { from, to: latest.version })
    }

    fn lock(&self) -> Result<File> {
        std::fs::create_dir_all(&self.lock_dir).context(format!("cannot create {}", self.lock_dir.display()))?;
        let path = self.lock_dir.join(format!("push-{}-{}.lock", self.environment, self.config.name));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .context(format!("cannot open {}", path.display()))?;
        file.lock().context(format!("cannot lock {}", path.display()))?;
        Ok(file)
    }
}

/// What a push did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum PushOutcome {
    /// The database has no version yet.
    Nothing,
    /// The target already had this (or a newer) version.
    UpToDate {
        /// Its version.
        version: u64,
    },
    /// The target went from one version to another.
    Pushed {
        /// Before (0: empty).
        from: u64,
        /// After.
        to: u64,
    },
}

/// Writes `bytes` to `path` so that readers see the old file or the new one, whole.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
    ));
    let result = (|| -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(format!("cannot write {}: {e}", path.display())));
    }
    Ok(())
}
