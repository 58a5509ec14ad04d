//! vexil's publisher: flags as code (GitLab-layout YAML definitions), GitLab chatops
//! commands over per-environment state kept in a real database, and signed snapshots pushed
//! to targets. The `vexil` binary is glue over this library.
//!
//! ```text
//!  vexil.toml + config/feature_flags/**/*.yml        vexil feature set … --staging --production
//!          │ (definitions, groups)                      │ (chatops rules, atomic over environments)
//!          ▼                                            ▼
//!   compose(definitions, persisted gates) ──encode+sign──▶ store (SQLite): versions + change log
//!                                                         │ one transaction per command
//!                                                         ▼
//!                                      targets: latest.vxl + v/<version>.vxl (temp file + rename)
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod audience;
pub mod chatops;
pub mod cli;
pub mod config;
pub mod definitions;
pub mod error;
pub mod project;
pub mod serve;
pub mod store;
pub mod target;
pub mod yaml;

pub use error::{Error, Result};
