//! `vexil serve` drives rollouts when vexil.toml's `[rollouts] drive = true`: a thread ticks
//! every running rollout several times a second, so a breach is acted on within one check
//! interval and a step applies as soon as it is due. It races `vexil rollout tick` from cron
//! or CI, and other servers, safely: each move happens once.

use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::project::Project;
use std::path::PathBuf;
use std::time::Duration;

/// How often the driver looks: well inside the shortest check interval (1 s).
const CADENCE: Duration = Duration::from_millis(250);

/// Starts the driver, with a project (and database connection) of its own.
pub(super) fn start(root: PathBuf, wake_deliverer: Option<std::sync::mpsc::SyncSender<()>>) -> Result<()> {
    let mut project = Project::open(&root)?;
    std::thread::Builder::new()
        .name("vexil-rollouts".into())
        .spawn(move || loop {
            project.refresh_definitions();
            match project.rollout_tick(now_ms(), None) {
                Ok(ticks) => {
                    for t in ticks.iter().filter(|t| t.outcome != "checked" && t.outcome != "raced") {
                        let step = t.step.map(|s| format!(" step {s}")).unwrap_or_default();
                        eprintln!(
                            "vexil serve: rollout of {}: {}{step}: {}",
                            t.flag,
                            t.outcome.replace('_', " "),
                            t.detail
                        );
                    }
                    if let (false, Some(wake)) = (ticks.is_empty(), &wake_deliverer) {
                        let _ = wake.try_send(());
                    }
                }
                Err(e) => {
                    eprintln!("vexil serve: rollouts: {e}; retrying");
                    std::thread::sleep(Duration::from_secs(1));
                    if let Ok(again) = Project::open(&root) {
                        project = again;
                    }
                }
            }
            std::thread::sleep(CADENCE);
        })
        .map_err(|e| Error::io(format!("cannot start the rollout driver: {e}")))?;
    Ok(())
}
