//! vexil's publisher: flags as code (GitLab-layout YAML definitions), GitLab chatops
//! commands over per-environment state kept in a real database, signed snapshots pushed to
//! targets, and `vexil serve`. The `vexil` binary is glue over this library.
//!
//! ```text
//!  entry points:   vexil CLI (cli)          vexil serve (serve: snapshots, streams, dashboard)
//!                      │ typed Request                ▲ follows the database
//!                      ▼                              │
//!  shell:          Project::apply ── check targets, production check
//!                      │ one write transaction (store: SQLite | PostgreSQL | memory)
//!                      ▼
//!  pure:           plan(Request, Inputs) ─▶ refusal │ Plan { versions, change records }
//!                      │   (definitions, vexil.toml, each environment's newest snapshot)
//!                      ▼
//!  shell:          encode + sign (server and browser snapshot) ─▶ store: versions + log
//!                      │
//!                      ▼
//!  push:           targets: directory | S3 (R2, GCS, Garage…) | HTTP origin
//!                  latest.vxl + v/<version>.vxl + freshness.vxf, full or browser audience
//! ```
//!
//! Where things live: [`plan`] decides (no I/O), [`project`] reads, commits and pushes,
//! [`store`] keeps versions and the log, [`push`] writes targets, [`config`] and
//! [`definitions`] read the repository's files, [`serve`] and [`cli`] are entry points.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod atomic_file;
pub mod audience;
pub mod cli;
pub mod clock;
pub mod config;
pub mod definitions;
pub mod duration;
pub mod entity;
pub mod error;
pub mod eval;
pub mod flags;
pub mod freshness;
pub mod gates_json;
pub mod housekeeping;
pub mod inspect;
pub mod keys;
pub mod lint;
pub mod notify;
pub mod plan;
pub mod project;
pub mod push;
pub mod remote;
pub mod rollout;
pub mod serve;
pub mod store;
#[cfg(test)]
mod testing;
pub mod tokens;
pub mod yaml_tree;

pub use error::{Error, Result};
