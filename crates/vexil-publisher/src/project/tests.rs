//! The shell over an in-memory store: what `apply` commits, and that a refusal commits nothing.

use super::*;
use crate::plan::{ActorOrGroup, Recorded};
use crate::store::{LogFilter, MemoryStore};
use crate::testing::{config, definitions};
use vexil_core::FlagType;

const FLAG: &str = "new_navigation_bar";

fn origin(author: &str, at: i64) -> Origin {
    Origin { author: author.into(), command: format!("test {at}"), via: EntryPoint::Cli, at }
}

fn project(store: &MemoryStore) -> Project {
    let defs = definitions(&[(FLAG, FlagType::Beta, false)]);
    let mut p = Project::with_store(config(), defs, Box::new(store.clone()), None).unwrap();
    p.apply(&Request::Publish { environments: vec![] }, &origin("init", 1)).unwrap();
    p
}

fn set(value: &str, targets: Vec<ActorOrGroup>, envs: &[&str]) -> Request {
    Request::Set {
        set: SetRequest::new(FLAG.into(), value.into(), false, false, false, targets).unwrap(),
        environments: envs.iter().map(|e| e.to_string()).collect(),
        options: SetOptions::default(),
    }
}

fn everything(store: &MemoryStore) -> (Vec<VersionRow>, Vec<Change>) {
    let mut s = store.clone();
    (s.all_versions().unwrap(), s.changes(&LogFilter::default()).unwrap())
}

#[test]
fn apply_commits_versions_and_the_log_with_who_and_when() {
    let store = MemoryStore::new();
    let mut p = project(&store);
    let published = p.apply(&set("true", vec![], &["dev", "staging"]), &origin("alice", 10)).unwrap();
    let versions: Vec<(&str, u64)> = published.iter().map(|x| (x.environment.as_str(), x.version)).collect();
    assert_eq!(versions, [("dev", 2), ("staging", 2)]);
    let log = p.log(&LogFilter { flag: Some(FLAG.into()), ..LogFilter::default() }).unwrap();
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|c| c.author == "alice" && c.at == 10 && c.version == 2 && c.command == "test 10"));
    assert!(matches!(&log[0].after, Recorded::Gates(g) if g.boolean));
    assert_eq!(p.feature("staging", FLAG).unwrap().state, vexil_core::State::On);
    let (_, snapshot) = p.latest_snapshot("dev").unwrap().unwrap();
    assert_eq!(snapshot.published_at(), 10);
    assert!(store.clone().latest("dev").unwrap().unwrap().browser_snapshot.is_some());
}

#[test]
fn a_refused_request_changes_nothing() {
    let store = MemoryStore::new();
    let mut p = project(&store);
    p.apply(&set("opt_out", vec![ActorOrGroup::Actor("User:1".into())], &["production"]), &origin("a", 2)).unwrap();
    let before = everything(&store);
    let mut both = set("true", vec![ActorOrGroup::Actor("User:1".into())], &["dev", "production"]);
    if let Request::Set { options, .. } = &mut both {
        options.ignore_consistency_check = true;
    }
    let e = p.apply(&both, &origin("b", 3)).unwrap_err();
    assert!(e.to_string().contains("Opt-out exists for User:1"), "{e}");
    assert!(p.apply(&set("true", vec![], &["production"]), &origin("b", 4)).is_err(), "consistency check");
    assert!(p.rollback("dev", RollbackTo::Version(9), &origin("b", 5)).is_err());
    assert_eq!(before, everything(&store));
}

#[test]
fn rollback_publish_and_delete_go_through_the_same_path() {
    let store = MemoryStore::new();
    let mut p = project(&store);
    p.apply(&set("true", vec![], &["dev"]), &origin("a", 2)).unwrap();
    p.apply(&Request::Delete { flag: FLAG.into(), environments: vec!["dev".into()] }, &origin("a", 3)).unwrap();
    let back = p.rollback("dev", RollbackTo::StepsBack(1), &origin("a", 4)).unwrap();
    assert_eq!(back.version, 4);
    assert!(p.feature("dev", FLAG).unwrap().persisted);
    let republished = p.publish(&[], &origin("a", 5), false).unwrap();
    assert_eq!(republished.len(), 3, "every environment reported");
    assert_eq!(republished.iter().map(|x| x.version).collect::<Vec<_>>(), [4, 1, 1], "nothing new committed");
    let actions: Vec<&str> = p.log(&LogFilter::default()).unwrap().iter().map(|c| c.action.name()).collect();
    assert_eq!(actions[..3], ["rollback", "remove", "enable"]);
}

#[test]
fn two_projects_on_one_store_serialize() {
    let store = MemoryStore::new();
    let mut a = project(&store);
    let mut b = Project::with_store(config(), a.definitions.clone(), Box::new(store.clone()), None).unwrap();
    a.apply(&set("true", vec![ActorOrGroup::Actor("User:1".into())], &["dev"]), &origin("a", 2)).unwrap();
    b.apply(&set("true", vec![ActorOrGroup::Actor("User:2".into())], &["dev"]), &origin("b", 3)).unwrap();
    let entity = a.feature("dev", FLAG).unwrap();
    assert_eq!(entity.version, 3);
    let actors = entity.gates.iter().find(|g| g.key == "actors").unwrap();
    assert_eq!(actors.value.to_string(), "User:1, User:2", "b planned against a's commit");
}
