//! CRC-32 (IEEE 802.3, zlib's `crc32`), the hash behind Flipper's percentage-of-actors gate.
//!
//! In WebAssembly, a single 256-entry table, filled at run time, keeps the build small
//! (slice-by-N tables would add kilobytes of incompressible data) and is fast enough for the
//! short strings we hash: each flag name once, when a snapshot is decoded, and an actor id once
//! per percentage check. The running state is exposed so that the state after a flag's name,
//! kept with the flag, is resumed for every actor id that follows it in Flipper's
//! `"#{feature_name}#{actor_id}"`.

/// Entry `i` of the byte-at-a-time table.
const fn entry(i: u32) -> u32 {
    let mut c = i;
    let mut bit = 0;
    while bit < 8 {
        c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        bit += 1;
    }
    c
}

#[cfg(not(target_arch = "wasm32"))]
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = entry(i as u32);
        i += 1;
    }
    table
};

/// The wasm module fills its table when it first hashes, instead of shipping it: 1 KiB of
/// data that does not compress, about 5% of the module's download, for a loop of a few
/// dozen bytes. Atomics only to be a safe `static` (the module is single-threaded: they
/// compile to plain loads and stores).
#[cfg(target_arch = "wasm32")]
mod filled {
    use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};

    static TABLE: [AtomicU32; 256] = [const { AtomicU32::new(0) }; 256];
    static FILLED: AtomicBool = AtomicBool::new(false);

    #[inline]
    pub(super) fn table() -> &'static [AtomicU32; 256] {
        if !FILLED.load(Relaxed) {
            fill();
        }
        &TABLE
    }

    #[cold]
    fn fill() {
        for (i, slot) in TABLE.iter().enumerate() {
            slot.store(super::entry(i as u32), Relaxed);
        }
        FILLED.store(true, Relaxed);
    }
}

/// Slice-by-8 tables: eight bytes per step through independent lookups instead of a chain of
/// eight. Native builds only; in wasm the 7 KiB they add would cost more than they save.
#[cfg(not(target_arch = "wasm32"))]
const TABLES: [[u32; 256]; 8] = {
    let mut t = [[0u32; 256]; 8];
    t[0] = TABLE;
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ TABLE[(prev & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    t
};

/// A CRC-32 computation in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crc32(u32);

impl Crc32 {
    /// The state before any byte.
    pub const fn new() -> Self {
        Crc32(!0)
    }

    /// Continues the computation over `bytes`.
    #[inline]
    #[must_use]
    pub fn update(self, bytes: &[u8]) -> Self {
        let mut c = self.0;
        #[cfg(not(target_arch = "wasm32"))]
        let bytes = {
            let mut chunks = bytes.chunks_exact(8);
            for chunk in &mut chunks {
                let lo = c ^ u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                c = TABLES[7][(lo & 0xff) as usize]
                    ^ TABLES[6][((lo >> 8) & 0xff) as usize]
                    ^ TABLES[5][((lo >> 16) & 0xff) as usize]
                    ^ TABLES[4][(lo >> 24) as usize]
                    ^ TABLES[3][chunk[4] as usize]
                    ^ TABLES[2][chunk[5] as usize]
                    ^ TABLES[1][chunk[6] as usize]
                    ^ TABLES[0][chunk[7] as usize];
            }
            chunks.remainder()
        };
        #[cfg(not(target_arch = "wasm32"))]
        for &b in bytes {
            c = TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
        }
        #[cfg(target_arch = "wasm32")]
        {
            let table = filled::table();
            for &b in bytes {
                c = table[((c ^ b as u32) & 0xff) as usize].load(core::sync::atomic::Ordering::Relaxed) ^ (c >> 8);
            }
        }
        Crc32(c)
    }

    /// The CRC-32 of everything fed so far.
    #[inline]
    pub fn finish(self) -> u32 {
        !self.0
    }
}

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

/// zlib's `crc32(bytes)`, as Ruby's `Zlib.crc32`.
pub fn crc32(bytes: &[u8]) -> u32 {
    Crc32::new().update(bytes).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Values from Python's zlib.crc32, which equals Ruby's Zlib.crc32 on these inputs.
    #[test]
    fn matches_zlib() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b"some_featureUser:123"), 2_523_499_591);
        assert_eq!(crc32(b"my_flagProject:42"), 592_261_382);
        assert_eq!(crc32(b"my_flagGroup:9970"), 3_215_619_444);
        assert_eq!(crc32(b"new_navigation_barUser:1"), 713_722_713);
        assert_eq!(crc32(b"my_flagFlipperGitlabInstance:gitlab.com"), 3_773_190_026);
    }

    #[test]
    fn every_length_and_split_agrees_with_bytewise() {
        let data: alloc::vec::Vec<u8> = (0..200u32).map(|i| (i * 37 + 11) as u8).collect();
        for len in 0..data.len() {
            let mut c = !0u32;
            for &b in &data[..len] {
                c = TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
            }
            assert_eq!(crc32(&data[..len]), !c, "{len}");
            let split = len / 3;
            assert_eq!(Crc32::new().update(&data[..split]).update(&data[split..len]).finish(), !c);
        }
    }

    #[test]
    fn resumes() {
        let whole = crc32(b"some_featureUser:123");
        let split = Crc32::new().update(b"some_feature").update(b"User:123").finish();
        assert_eq!(whole, split);
    }
}
