//! The commands every entry point that speaks chatops' language runs alike — the CLI on the
//! database, the remote CLI, chat — each made by the library and written as text or JSON.

use super::invocation::Invocation;
use super::render::{self, Out};
use crate::error::{Error, Result};
use crate::flags::Flags;
use crate::plan::Request;
use crate::project::Origin;

/// Runs `invocation` (a change, `feature get`, `feature list`, `status` or `log`) and
/// returns its report and whether it counts as failed (a push behind, a target behind).
pub fn run(backend: &mut dyn Flags, invocation: Invocation, as_json: bool, origin: &Origin) -> Result<(Out, bool)> {
    let mut out = Out::default();
    let failed = match invocation {
        Invocation::Change { request, repair } => change(&mut out, backend, &request, repair, as_json, origin)?,
        Invocation::FeatureGet { flag, environments } => {
            let entities = backend.features(&flag, &environments)?;
            if as_json {
                render::json(&mut out, &entities);
            } else {
                entities.iter().for_each(|e| render::feature(&mut out, e));
            }
            false
        }
        Invocation::FeatureList { pattern, environments } => {
            render::feature_lists(&mut out, &backend.feature_lists(&pattern, &environments)?, as_json);
            false
        }
        Invocation::Status => {
            let rows = backend.status()?;
            let behind = rows.iter().any(|r| r.behind);
            render::status(&mut out, &rows, behind, as_json);
            behind
        }
        Invocation::Log(filter) => {
            render::log(&mut out, &backend.log(&filter)?, as_json);
            false
        }
        other => return Err(Error::usage(format!("{other:?} is not one of the shared commands"))),
    };
    Ok((out, failed))
}

fn change(
    out: &mut Out,
    backend: &mut dyn Flags,
    request: &Request,
    repair: bool,
    as_json: bool,
    origin: &Origin,
) -> Result<bool> {
    let applied = backend.change(request, origin, repair)?;
    let failed = applied.published.iter().any(|x| x.push_failed());
    for notice in &applied.notices {
        render::notice(out, notice);
    }
    let headline = match request {
        Request::Set { .. } => Some("The feature flag value has been updated!".to_string()),
        Request::Delete { flag, .. } => {
            Some(format!("Feature flag {flag} has been removed; its YAML default applies."))
        }
        _ => None,
    };
    match (headline, request) {
        (Some(headline), _) => {
            let entities: Vec<_> = applied.features.into_iter().zip(&applied.published).collect();
            render::change(out, &headline, &entities, as_json);
        }
        (None, Request::Rollback { .. }) => {
            let x = applied.published.first().ok_or_else(|| Error::io("rollback committed no version"))?;
            if as_json {
                render::json(out, x);
            } else {
                render::rollback(out, x);
            }
            // A rollback that committed stands; a lagging target is reported, not fatal.
            return Ok(false);
        }
        (None, _) => render::published(out, &applied.published, as_json),
    }
    Ok(failed)
}
