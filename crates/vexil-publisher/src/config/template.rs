//! The `vexil.toml` that `vexil init` writes: GitLab's six environments, each pushed to a
//! directory, SQLite state, and comments that say what each table is for.

/// GitLab's six environments, in the order chatops applies them.
pub const GITLAB_ENVIRONMENTS: [&str; 6] = ["dev", "staging", "staging-ref", "ops", "pre", "production"];

/// The `vexil.toml` that `vexil init` writes.
pub fn template() -> String {
    let mut out = String::from(
        r#"# vexil project: flags are defined in config/feature_flags/<type>/<name>.yml (GitLab's layout)
# and flipped per environment with `vexil feature set`.

# Where flag definitions live; add "ee/config/feature_flags" for a GitLab EE layout.
definitions = ["config/feature_flags"]

# The state database: every version of every environment and the change log.
state = "sqlite:.vexil/state.db"

# Commands that name no environment act on this one, as chatops does.
default_environment = "production"

# Flags browsers may see, besides those whose definition says `client_side: true`: names,
# or patterns with `*`. A target with `audience = "browser"` gets only these, with actor
# ids hashed; `vexil snapshot --audience browser` writes the same.
client_side = []

# The consistency check: no disabling on staging while production is on, no enabling on
# production while staging is off (override with --ignore-feature-flag-consistency-check).
[consistency]
staging = "staging"
production = "production"

# Snapshots are signed when a key is configured: run `vexil keygen`.
[signing]
# key = ".vexil/signing.key"
# public_keys = []

# Feature groups: a Flipper expression over the actor's properties (and `flipper_id`).
[groups]
gitlab_team_members = { Equal = [{ Property = ["team"] }, "gitlab"] }
"#,
    );
    for env in GITLAB_ENVIRONMENTS {
        out.push_str(&format!(
            "\n[[environment]]\nname = \"{env}\"\n[[environment.target]]\nkind = \"directory\"\npath = \"public/{env}\"\n"
        ));
    }
    out
}
