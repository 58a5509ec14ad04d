//! The change log as a hash chain. Each entry stores the SHA-256 of a canonical encoding of
//! its own fields, of the SHA-256 of the snapshots of the version it produced, and of its
//! predecessor's hash (one chain per project, over every environment, in commit order). The
//! hash is computed in the transaction that appends the entry, which holds the write lock,
//! so concurrent writers extend the chain one at a time.
//!
//! An edited, deleted, inserted or reordered entry, and a version whose bytes were
//! overwritten, no longer verify. The chain has no secret: someone able to rewrite the
//! database can recompute all of it, and removing the newest entries leaves a shorter chain
//! that verifies. Signed snapshots are what such a writer cannot forge.

use super::{StoredChange, VersionRow};
use sha2::{Digest, Sha256};

/// One change-log entry as stored, with its place in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainEntry {
    /// The entry's fields, as the database holds them.
    pub stored: StoredChange,
    /// SHA-256 (hex) of the snapshots of the version the entry produced, as committed; none
    /// for an entry whose version was missing when it was chained.
    pub snapshot_sha256: Option<String>,
    /// The predecessor's hash (hex) when the entry was appended; empty for the first.
    pub prev_hash: Option<String>,
    /// This entry's hash (hex); none for a row no vexil chained.
    pub hash: Option<String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

fn optional(h: &mut Sha256, bytes: Option<&[u8]>) {
    match bytes {
        None => h.update([0u8]),
        Some(b) => {
            h.update([1u8]);
            field(h, b);
        }
    }
}

/// SHA-256 of a version's server and browser snapshots, as the chain records it.
pub fn snapshot_digest(row: &VersionRow) -> String {
    let mut h = Sha256::new();
    h.update(b"vexil version snapshots v1\0");
    field(&mut h, &row.snapshot);
    optional(&mut h, row.browser_snapshot.as_deref());
    hex(&h.finalize())
}

/// The hash of `entry` appended after `prev_hash` ("" for the first), recording the
/// snapshots `snapshot_sha256`. Every field is length-prefixed, so no two entries encode alike.
pub fn entry_hash(prev_hash: &str, entry: &StoredChange, snapshot_sha256: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(b"vexil change-log entry v1\0");
    field(&mut h, prev_hash.as_bytes());
    field(&mut h, &entry.id.to_be_bytes());
    field(&mut h, entry.environment.as_bytes());
    field(&mut h, &entry.version.to_be_bytes());
    optional(&mut h, entry.flag.as_deref().map(str::as_bytes));
    field(&mut h, entry.action.as_bytes());
    field(&mut h, entry.command.as_bytes());
    field(&mut h, entry.author.as_bytes());
    field(&mut h, entry.via.as_bytes());
    field(&mut h, &entry.at.to_be_bytes());
    field(&mut h, entry.before.as_bytes());
    field(&mut h, entry.after.as_bytes());
    optional(&mut h, snapshot_sha256.map(str::as_bytes));
    hex(&h.finalize())
}

/// The chain fields of `entry`, appended after `prev` and recording `version` (the row of the
/// version it produced, if there is one): `(snapshot_sha256, prev_hash, hash)`.
pub(crate) fn link(
    prev: Option<&str>,
    entry: &StoredChange,
    version: Option<&VersionRow>,
) -> (Option<String>, String, String) {
    let digest = version.map(snapshot_digest);
    let prev = prev.unwrap_or("").to_string();
    let hash = entry_hash(&prev, entry, digest.as_deref());
    (digest, prev, hash)
}

/// What is wrong with `entry`, which follows `prev` in the log (none: it is the first).
pub fn broken_link(prev: Option<&ChainEntry>, entry: &ChainEntry) -> Option<String> {
    let Some(hash) = &entry.hash else {
        return Some("it has no chain hash: it was written by something other than vexil".into());
    };
    let expected_prev = prev.map_or(Some(""), |p| p.hash.as_deref()).unwrap_or("");
    let recorded_prev = entry.prev_hash.as_deref().unwrap_or("");
    if recorded_prev != expected_prev {
        return Some(match prev {
            Some(p) => format!(
                "it was appended after another entry than {} (its predecessor now): an entry between them was deleted, or entries were reordered or inserted",
                p.stored.id
            ),
            None => "it was appended after another entry, and is now the first: earlier entries were deleted".into(),
        });
    }
    if entry_hash(recorded_prev, &entry.stored, entry.snapshot_sha256.as_deref()) != *hash {
        return Some(
            "its fields (environment, version, flag, action, command, author, time, before or after) are not those it was written with".into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(id: i64) -> StoredChange {
        StoredChange {
            id,
            environment: "dev".into(),
            version: 2,
            flag: Some("f".into()),
            action: "enable".into(),
            command: "vexil feature set f true --dev".into(),
            author: "a".into(),
            via: "cli".into(),
            at: 1,
            before: "null".into(),
            after: "{}".into(),
        }
    }

    fn chain(n: i64) -> Vec<ChainEntry> {
        let mut out: Vec<ChainEntry> = Vec::new();
        for id in 1..=n {
            let s = stored(id);
            let (digest, prev, hash) = link(out.last().and_then(|e| e.hash.as_deref()), &s, None);
            out.push(ChainEntry { stored: s, snapshot_sha256: digest, prev_hash: Some(prev), hash: Some(hash) });
        }
        out
    }

    fn first_broken(entries: &[ChainEntry]) -> Option<(i64, String)> {
        let mut prev = None;
        for e in entries {
            if let Some(why) = broken_link(prev, e) {
                return Some((e.stored.id, why));
            }
            prev = Some(e);
        }
        None
    }

    #[test]
    fn an_intact_chain_verifies_and_every_tampering_is_named() {
        let intact = chain(4);
        assert_eq!(first_broken(&intact), None);

        let mut edited = intact.clone();
        edited[2].stored.author = "someone else".into();
        let (id, why) = first_broken(&edited).unwrap();
        assert_eq!(id, 3);
        assert!(why.contains("fields"), "{why}");

        let mut deleted = intact.clone();
        deleted.remove(1);
        let (id, why) = first_broken(&deleted).unwrap();
        assert_eq!(id, 3);
        assert!(why.contains("after another entry than 1"), "{why}");

        let mut reordered = intact.clone();
        reordered.swap(1, 2);
        assert_eq!(first_broken(&reordered).unwrap().0, 3);

        let mut unchained = intact.clone();
        unchained[3].hash = None;
        assert!(first_broken(&unchained).unwrap().1.contains("no chain hash"));
        assert!(first_broken(&intact[1..]).unwrap().1.contains("earlier entries were deleted"));
    }

    #[test]
    fn fields_are_length_prefixed_so_shifting_text_between_them_changes_the_hash() {
        let a = stored(1);
        let mut b = a.clone();
        b.command = format!("{}a", a.command);
        b.author = String::new();
        assert_ne!(entry_hash("", &a, None), entry_hash("", &b, None));
        assert_ne!(entry_hash("", &a, None), entry_hash("", &a, Some("")));
        let row = |browser: Option<Vec<u8>>| VersionRow {
            environment: "dev".into(),
            version: 1,
            published_at: 0,
            author: "a".into(),
            snapshot: b"ab".to_vec(),
            browser_snapshot: browser,
        };
        assert_ne!(snapshot_digest(&row(None)), snapshot_digest(&row(Some(Vec::new()))));
    }
}
