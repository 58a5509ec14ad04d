//! `vexil rollout init`: GitLab's rollout issue template as a plan — 50% of actors, then on,
//! everywhere before production; production for the team's feature group first, then
//! percentage steps; a wait between every step; a day at 100% before the rollout is done;
//! and `false` as the rollback.

use crate::config::Config;
use crate::duration::Text;
use std::time::Duration;

/// The least time at 100% before a rollout completes, as the template asks.
const FINAL_WAIT: Duration = Duration::from_secs(86_400);

/// The plan text for `flag`, with `wait` between steps (the longest least wait of the
/// environments a step changes, when that is longer).
pub fn template(flag: &str, config: &Config, wait: Duration) -> String {
    let production = config.production.clone().unwrap_or_else(|| config.default_environment.clone());
    // GitLab's ops instance is not part of a feature's rollout.
    let before: Vec<String> =
        config.environment_names().into_iter().filter(|e| *e != production && *e != "ops").map(String::from).collect();
    let wait_for = |envs: &[String]| Text(wait.max(config.rollouts.min_wait_for(envs.iter().map(String::as_str))));
    let list = |envs: &[String]| format!("[{}]", envs.join(", "));
    let prod = vec![production.clone()];
    let mut out = format!(
        "# The rollout of `{flag}`, step by step (GitLab's rollout template). Reviewed like the\n\
         # definition; `vexil lint` checks it; `vexil rollout start {flag}` runs it.\n\
         # Each step is a chatops value for some environments, then the least wait before the\n\
         # next step; `approval: true` holds a step until `vexil rollout approve {flag}`.\n\
         steps:\n"
    );
    if !before.is_empty() {
        out += &format!("  - set: 50 --actors\n    environments: {}\n    wait: {}\n", list(&before), wait_for(&before));
        out += &format!("  - set: \"true\"\n    environments: {}\n    wait: {}\n", list(&before), wait_for(&before));
    }
    if config.groups.contains_key("gitlab_team_members") {
        out += &format!(
            "  - set: true --feature-group=gitlab_team_members\n    environments: {}\n    wait: {}\n",
            list(&prod),
            wait_for(&prod)
        );
    }
    out += &format!(
        "  - set: 10 --actors\n    environments: {}\n    wait: {}\n    approval: true\n",
        list(&prod),
        wait_for(&prod)
    );
    for p in [25, 50] {
        out += &format!("  - set: {p} --actors\n    environments: {}\n    wait: {}\n", list(&prod), wait_for(&prod));
    }
    out += &format!(
        "  # After 100%, wait at least a day before the rollout is done.\n  - set: \"true\"\n    environments: {}\n    wait: {}\n",
        list(&prod),
        Text(FINAL_WAIT.max(wait))
    );
    out += "\n# Read before every step and while a step waits; no data counts as unhealthy.\n\
            guards: []\n\
            #  - name: error ratio with the flag on\n\
            #    query: sum(rate(http_requests_errors_total{flag_state=\"on\"}[5m])) / sum(rate(http_requests_total{flag_state=\"on\"}[5m]))\n\
            #    max: 0.01\n\
            #  - name: end-to-end tests\n\
            #    command: scripts/e2e.sh\n\
            #    timeout: 10m\n\
            \n\
            # A breach: `rollback` sets `rollback:` on every environment the rollout changed;\n\
            # `pause` stops where it is.\n\
            on_breach: rollback\n\
            rollback: \"false\"\n";
    out
}
