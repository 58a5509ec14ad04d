//! The outbox's contract, the same on every store: oldest undelivered first per sink, one
//! lease holder at a time until it lapses, and a delivered row never made pending again.

use super::{MemoryStore, OutboxRow, SqliteStore, Store};
use std::time::Duration;

fn row(sink: &str, event: &str, at: i64) -> OutboxRow {
    OutboxRow {
        id: 0,
        event: event.into(),
        sink: sink.into(),
        payload: "{}".into(),
        created_at: at,
        attempts: 0,
        next_attempt_at: at,
        delivered_at: None,
        last_error: None,
    }
}

fn next(store: &mut dyn Store, sink: &str) -> Option<OutboxRow> {
    let mut found = None;
    store
        .write(&mut |tx| {
            found = tx.outbox_next(sink)?;
            Ok(())
        })
        .unwrap();
    found
}

fn lease(store: &mut dyn Store, holder: &str, now: i64) -> bool {
    let mut held = false;
    store
        .write(&mut |tx| {
            held = tx.lease("a", holder, now, now + 100)?;
            Ok(())
        })
        .unwrap();
    held
}

fn contract(store: &mut dyn Store) {
    store
        .write(&mut |tx| {
            for (sink, event, at) in [("a", "e1", 10), ("b", "e1", 10), ("a", "e2", 20), ("a", "e3", 30)] {
                tx.insert_outbox(&row(sink, event, at))?;
            }
            Ok(())
        })
        .unwrap();
    let first = next(store, "a").unwrap();
    assert_eq!(first.event, "e1");

    // One holder at a time; another only once the lease lapses; renewing is the holder's.
    assert!(lease(store, "serve-1", 1000));
    assert!(!lease(store, "cli-2", 1050));
    assert!(lease(store, "serve-1", 1090), "the holder renews");
    assert!(!lease(store, "cli-2", 1150), "renewed until 1190");
    assert!(lease(store, "cli-2", 1190), "lapsed");
    assert!(!lease(store, "serve-1", 1200), "the old holder lost it");

    // A failed attempt backs off the head; the summary shows the head's next attempt.
    let failed = OutboxRow { attempts: 1, next_attempt_at: 5000, last_error: Some("HTTP 503".into()), ..first.clone() };
    store.write(&mut |tx| tx.outbox_update(&failed)).unwrap();
    let summary = store.outbox_summary().unwrap();
    let a = summary.iter().find(|s| s.sink == "a").unwrap();
    assert_eq!((a.pending, a.failing, a.delivered), (3, 1, 0));
    assert_eq!(
        (a.next_attempt_at, a.last_error.as_deref(), a.oldest_pending_at),
        (Some(5000), Some("HTTP 503"), Some(10))
    );

    // Delivered; a late write of an older attempt's failure does not undo it.
    let delivered = OutboxRow { attempts: 2, delivered_at: Some(6000), last_error: None, ..first.clone() };
    store.write(&mut |tx| tx.outbox_update(&delivered)).unwrap();
    store.write(&mut |tx| tx.outbox_update(&failed)).unwrap();
    assert_eq!(next(store, "a").unwrap().event, "e2");
    assert_eq!(next(store, "b").unwrap().event, "e1", "each sink its own queue");
    let all = store.outbox_all().unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0].delivered_at, Some(6000));
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "ids in commit order");
}

#[test]
fn memory_store_keeps_the_outbox_contract() {
    contract(&mut MemoryStore::new());
}

#[test]
fn sqlite_store_keeps_the_outbox_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(&mut SqliteStore::create(&dir.path().join("state.db"), Duration::from_secs(1)).unwrap());
}
