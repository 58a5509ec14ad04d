//! The planning layer on its own: requests against states held in memory, no store.

use super::*;
use crate::testing::{commit, config, definitions, key};
use vexil_core::{FlagType, Percentage, State};

const FLAG: &str = "new_navigation_bar";

struct World {
    config: Config,
    definitions: Definitions,
    heads: BTreeMap<String, Snapshot>,
    signer: Option<[u8; 32]>,
    at: i64,
}

impl World {
    fn new() -> World {
        let mut w = World {
            config: config(),
            definitions: definitions(&[(FLAG, FlagType::Beta, false), ("ops_switch", FlagType::Ops, true)]),
            heads: BTreeMap::new(),
            signer: None,
            at: 1_000,
        };
        w.apply(&Request::Publish { environments: vec![] }).unwrap();
        w
    }

    fn plan(&self, request: &Request) -> Result<Plan> {
        self.plan_with(request, None)
    }

    fn plan_with(&self, request: &Request, rollback_source: Option<&Snapshot>) -> Result<Plan> {
        let inputs = Inputs {
            config: &self.config,
            definitions: &self.definitions,
            heads: &self.heads,
            signer: self.signer,
            rollback_source,
            published_at: self.at,
        };
        plan(request, &inputs)
    }

    fn apply(&mut self, request: &Request) -> Result<Plan> {
        let plan = self.plan(request)?;
        commit(&mut self.heads, &plan, None);
        self.at += 1;
        Ok(plan)
    }

    fn state(&self, env: &str, flag: &str) -> Option<FlagState> {
        persisted_of(&self.heads[env]).remove(flag)
    }
}

fn set(value: &str, actors: bool, targets: Vec<ActorOrGroup>, envs: &[&str]) -> Request {
    Request::Set {
        set: SetRequest::new(FLAG.into(), value.into(), actors, false, false, targets).unwrap(),
        environments: envs.iter().map(|e| e.to_string()).collect(),
        options: SetOptions::default(),
    }
}

fn message(r: Result<Plan>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn first_publish_gives_every_environment_version_one() {
    let w = World::new();
    assert_eq!(w.heads.len(), 3);
    for snapshot in w.heads.values() {
        assert_eq!(snapshot.version(), 1);
        assert_eq!(snapshot.published_at(), 1_000);
    }
}

#[test]
fn set_plans_one_version_per_named_environment_with_typed_records() {
    let mut w = World::new();
    let refused = message(w.plan(&set("25", true, vec![], &["production", "dev"])));
    assert!(refused.contains("is not enabled on staging"), "{refused}");

    let plan = w.apply(&set("25", true, vec![], &["dev", "staging"])).unwrap();
    let envs: Vec<(&str, u64)> = plan.versions.iter().map(|v| (v.environment(), v.version())).collect();
    assert_eq!(envs, [("dev", 2), ("staging", 2)], "chatops order, one version each");
    assert_eq!(plan.changes.len(), 2);
    let record = &plan.changes[0];
    assert_eq!((record.environment.as_str(), record.action), ("dev", Action::EnablePercentageOfActors));
    assert_eq!(record.before, Recorded::Nothing, "nothing was persisted");
    let Recorded::Gates(after) = &record.after else { panic!("{:?}", record.after) };
    assert_eq!(after.percentage_of_actors, Percentage::parse("25").unwrap());
    assert!(plan.versions[0].browser.flags.is_empty(), "no flag is client-side");
    assert_eq!(w.state("dev", FLAG).unwrap().state(), State::Conditional);
    assert!(w.state("production", FLAG).is_none());
}

#[test]
fn the_consistency_check_sees_what_the_same_request_did_to_staging() {
    let mut w = World::new();
    w.apply(&set("true", false, vec![], &["staging", "production"])).unwrap();
    let refused = w.plan(&set("false", false, vec![], &["staging"]));
    assert!(message(refused).contains("is enabled on production, so it cannot be disabled on staging"));
    let mut ignoring = set("false", false, vec![], &["staging"]);
    if let Request::Set { options, .. } = &mut ignoring {
        options.ignore_consistency_check = true;
    }
    assert!(w.plan(&ignoring).is_ok());
}

#[test]
fn a_refusal_in_any_environment_refuses_the_whole_request() {
    let mut w = World::new();
    let user = vec![ActorOrGroup::Actor("User:1".into())];
    w.apply(&set("opt_out", false, user.clone(), &["production"])).unwrap();
    let mut both = set("true", false, user, &["dev", "production"]);
    if let Request::Set { options, .. } = &mut both {
        options.ignore_consistency_check = true;
    }
    let e = message(w.plan(&both));
    assert!(e.contains("environment production: Opt-out exists for User:1"), "{e}");
}

#[test]
fn refusals_that_need_no_state_name_what_is_wrong() {
    let w = World::new();
    let unknown = Request::Set {
        set: SetRequest::new("new_navigation".into(), "true".into(), false, false, false, vec![]).unwrap(),
        environments: vec!["dev".into()],
        options: SetOptions::default(),
    };
    assert!(message(w.plan(&unknown)).contains("Did you mean `new_navigation_bar`?"));
    let forced = Request::Set {
        set: SetRequest::new("undefined_thing".into(), "true".into(), false, false, false, vec![]).unwrap(),
        environments: vec!["dev".into()],
        options: SetOptions { force: true, ..SetOptions::default() },
    };
    let plan = w.plan(&forced).unwrap();
    assert_eq!(plan.versions[0].server.flags["undefined_thing"].flag_type, FlagType::Undefined);
    let group = set("true", false, vec![ActorOrGroup::FeatureGroup("nope".into())], &["dev"]);
    assert!(message(w.plan(&group)).contains("unknown feature group `nope` (vexil.toml defines: gitlab_team_members)"));
    assert!(message(w.plan(&set("true", false, vec![], &["qa"]))).contains("unknown environment \"qa\""));
    let mut broken = World::new();
    broken.definitions.problems.push(crate::definitions::Problem {
        path: "config/feature_flags/beta/x.yml".into(),
        line: 3,
        severity: Severity::Error,
        message: "bad".into(),
    });
    assert!(message(broken.plan(&Request::Publish { environments: vec![] })).contains("x.yml:3: error: bad"));
}

#[test]
fn delete_unpersists_and_records_what_was_there() {
    let mut w = World::new();
    w.apply(&set("true", false, vec![], &["dev"])).unwrap();
    let plan = w.apply(&Request::Delete { flag: FLAG.into(), environments: vec!["dev".into()] }).unwrap();
    assert_eq!(plan.changes[0].action, Action::Remove);
    assert!(matches!(&plan.changes[0].before, Recorded::Gates(g) if g.boolean));
    assert_eq!(plan.changes[0].after, Recorded::Nothing);
    assert!(w.state("dev", FLAG).is_none());
    // Idempotent, as GitLab's DELETE: a version with the same state.
    let again = w.apply(&Request::Delete { flag: FLAG.into(), environments: vec!["dev".into()] }).unwrap();
    assert_eq!(again.versions.len(), 1);
    assert_eq!(again.changes[0].before, Recorded::Nothing);
}

#[test]
fn publish_diffs_definitions_and_the_signing_key() {
    let mut w = World::new();
    assert!(w.plan(&Request::Publish { environments: vec![] }).unwrap().versions.is_empty(), "nothing changed");

    w.definitions = definitions(&[(FLAG, FlagType::Beta, true), ("ops_switch", FlagType::Ops, true)]);
    let plan = w.apply(&Request::Publish { environments: vec!["dev".into()] }).unwrap();
    assert_eq!(plan.versions.len(), 1, "only the environment named");
    assert_eq!(plan.changes.len(), 1);
    let c = &plan.changes[0];
    assert_eq!((c.flag.as_deref(), c.action), (Some(FLAG), Action::Definition));
    let facts = |r: &Recorded| match r {
        Recorded::Definition(d) => d.default_enabled,
        other => panic!("{other:?}"),
    };
    assert!(!facts(&c.before) && facts(&c.after));

    w.definitions.by_name.remove("ops_switch");
    let plan = w.apply(&Request::Publish { environments: vec![] }).unwrap();
    let dev: Vec<_> = plan.changes.iter().filter(|c| c.environment == "dev").collect();
    assert_eq!(dev.len(), 1, "{dev:?}");
    assert_eq!((dev[0].flag.as_deref(), &dev[0].after), (Some("ops_switch"), &Recorded::Nothing));
    assert_eq!(plan.changes.iter().filter(|c| c.environment == "staging").count(), 2, "two definitions changed");

    w.signer = Some(key(7).public_key());
    let plan = w.plan(&Request::Publish { environments: vec![] }).unwrap();
    assert_eq!(plan.versions.len(), 3, "a new key re-signs every environment");
    assert!(plan.changes.iter().all(|c| c.flag.is_none()));
}

#[test]
fn rollback_returns_to_an_earlier_state_as_a_new_version() {
    let mut w = World::new();
    w.apply(&set("true", false, vec![], &["dev"])).unwrap();
    w.apply(&set("false", false, vec![], &["dev"])).unwrap();
    let v2 = {
        let mut replay = World::new();
        replay.apply(&set("true", false, vec![], &["dev"])).unwrap();
        replay.heads.remove("dev").unwrap()
    };
    let request = Request::Rollback { environment: "dev".into(), to: RollbackTo::StepsBack(1) };
    assert!(message(w.plan_with(&request, None)).contains("environment dev has no version 2 (versions 1 to 3)"));
    let plan = w.plan_with(&request, Some(&v2)).unwrap();
    assert_eq!(plan.versions[0].version(), 4);
    assert_eq!(plan.changes.len(), 1);
    assert_eq!(plan.changes[0].action, Action::Rollback);
    assert!(matches!(&plan.changes[0].after, Recorded::Gates(g) if g.boolean));
    assert!(plan.versions[0].server.flags[FLAG].gates.boolean);

    assert!(rollback_version("dev", RollbackTo::StepsBack(3), 3)
        .unwrap_err()
        .to_string()
        .contains("--steps 3: environment dev is at version 3, so there is nothing 3 steps back"));
    assert_eq!(rollback_version("dev", RollbackTo::StepsBack(2), 3).unwrap(), 1);
}

#[test]
fn a_client_side_flag_asking_a_server_only_one_is_refused_before_anything_is_written() {
    let mut w = World::new();
    w.config.client_side = vec![FLAG.into()];
    let expression = vexil_core::Expr::from_json_str(r#"{"FeatureEnabled": ["ops_switch"]}"#).unwrap();
    let gates = vexil_core::Gates { expression: Some(expression), ..vexil_core::Gates::default() };
    let state: Persisted = [(FLAG.to_string(), FlagState { persisted: true, gates })].into_iter().collect();
    let e = planned_version(
        &Inputs {
            config: &w.config,
            definitions: &w.definitions,
            heads: &w.heads,
            signer: None,
            rollback_source: None,
            published_at: 5,
        },
        "dev",
        &state,
    )
    .unwrap_err();
    assert!(e.to_string().contains("asks FeatureEnabled(\"ops_switch\"), which browsers may not see"), "{e}");
}
