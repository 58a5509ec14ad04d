//! Byte edits for the total-decoding properties: a snapshot with bytes changed, flipped,
//! inserted or cut.

use proptest::prelude::*;
use proptest::sample::Index;

/// One to three edits: where, a byte, and what to do with it.
pub fn edits() -> impl Strategy<Value = Vec<(Index, u8, u8)>> {
    prop::collection::vec((any::<Index>(), any::<u8>(), 0u8..4), 1..4)
}

pub fn apply(bytes: &mut Vec<u8>, edits: &[(Index, u8, u8)]) {
    for &(at, byte, op) in edits {
        if bytes.is_empty() {
            break;
        }
        let i = at.index(bytes.len());
        match op {
            0 => bytes[i] = byte,
            1 => bytes[i] ^= 1 << (byte % 8),
            2 => bytes.insert(i, byte),
            _ => bytes.truncate(i),
        }
    }
}
