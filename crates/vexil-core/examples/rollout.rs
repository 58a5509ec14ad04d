//! A rollout the way GitLab does one, straight on the core: each step changes the gates,
//! encodes and signs a snapshot, decodes it as an SDK would, and shows who gets the flag.

use vexil_core::{
    encode, Actor, Context, Environment, Expr, Flag, FlagType, Percentage, SigningKey, Snapshot, Timestamp, Value,
};

fn main() {
    let key = SigningKey::from_seed(*b"vexil demo key, not for real use").expect("non-zero seed");
    let mut env = Environment::new("production", 0, 1_700_000_000_000);
    env.groups.insert(
        "gitlab_team_members".into(),
        Expr::from_json_str(r#"{"Equal": [{"Property": ["team"]}, "gitlab"]}"#).expect("valid expression"),
    );
    env.flags.insert("new_navigation_bar".into(), Flag::new(FlagType::Beta, false));

    let team = [("team", Value::Str("gitlab"))];
    let people =
        [Actor::with_properties("User:1", &team), Actor::new("User:2"), Actor::new("User:3"), Actor::new("Project:42")];
    type Step = (&'static str, fn(&mut Flag));
    let steps: [Step; 6] = [
        ("defined, nothing persisted", |_| {}),
        ("--project=42 true", |f| {
            f.persisted = true;
            f.gates.actors.insert("Project:42".into());
        }),
        ("--feature-group=gitlab_team_members true", |f| {
            f.gates.groups.insert("gitlab_team_members".into());
        }),
        ("50 --actors", |f| f.gates.percentage_of_actors = Percentage::parse("50").expect("valid")),
        ("true", |f| f.gates = vexil_core::Gates { boolean: true, ..Default::default() }),
        ("false (rollback)", |f| f.gates = Default::default()),
    ];
    for (command, change) in steps {
        change(env.flags.get_mut("new_navigation_bar").expect("defined above"));
        env.version += 1;
        let bytes = encode(&env, Some(&key)).expect("valid state");
        let snapshot = Snapshot::decode(&bytes, &[key.public_key()]).expect("signed by our key");
        println!("v{} feature set new_navigation_bar {command}  ({} bytes, signed)", snapshot.version(), bytes.len());
        for actor in &people {
            let ctx = Context::new(core::slice::from_ref(actor), 0.5, Timestamp::from_unix_millis(1_700_000_000_000));
            let d = snapshot.evaluate("new_navigation_bar", &ctx);
            println!("    {:<12} {:<5} {}", actor.id, d.enabled, d.reason);
        }
    }
}
