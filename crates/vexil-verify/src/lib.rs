//! ed25519 verification as its own small WebAssembly module: the `vexil` npm package loads
//! it only when a caller gives public keys, so pages that do not check signatures never
//! download the curve arithmetic.
//!
//! Its ABI is two functions of numbers (pkg/src/core.js is the JS side): `io(len)` makes
//! room in a buffer of the module's memory and returns its address; JavaScript writes the
//! key (32 bytes), the signature (64) and the message there, and `verify(message_len)`
//! answers 1 or 0.

#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

/// Whether `signature` (64 bytes) is `public_key`'s (32 bytes) ed25519 signature of
/// `message`.
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let (Ok(key), Ok(sig)) =
        (ed25519_compact::PublicKey::from_slice(public_key), ed25519_compact::Signature::from_slice(signature))
    else {
        return false;
    };
    key.verify(message, &sig).is_ok()
}

/// [`verify`] of a key, a signature and a message written back to back.
pub fn verify_packed(packed: &[u8]) -> bool {
    if packed.len() < 96 {
        return false;
    }
    let (key, rest) = packed.split_at(32);
    let (signature, message) = rest.split_at(64);
    verify(key, message, signature)
}

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod abi {
    use alloc::vec::Vec;
    use core::cell::UnsafeCell;

    #[global_allocator]
    // SAFETY: wasm32-unknown-unknown without the atomics feature has one thread, which is
    // what AssumeSingleThreaded requires.
    static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
        unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
        core::arch::wasm32::unreachable()
    }

    struct Shared(UnsafeCell<Vec<u8>>);

    // SAFETY: one thread.
    unsafe impl Sync for Shared {}

    static IO: Shared = Shared(UnsafeCell::new(Vec::new()));

    fn shared() -> &'static mut Vec<u8> {
        // SAFETY: one thread, and each export takes the buffer once.
        unsafe { &mut *IO.0.get() }
    }

    /// Makes the buffer at least `len` bytes long; returns its address.
    #[no_mangle]
    pub extern "C" fn io(len: usize) -> *mut u8 {
        let io = shared();
        if io.len() < len {
            io.resize(len, 0);
        }
        io.as_mut_ptr()
    }

    /// 1 if the buffer holds a key, its signature and the `message_len` bytes it signs.
    #[no_mangle]
    pub extern "C" fn verify(message_len: usize) -> u32 {
        let io = shared();
        let packed = io.get(..message_len.saturating_add(96)).unwrap_or_default();
        u32::from(super::verify_packed(packed))
    }
}

#[cfg(test)]
mod tests {
    use super::verify_packed;
    use ed25519_compact::{KeyPair, Seed};

    fn packed(message: &[u8]) -> Vec<u8> {
        let pair = KeyPair::from_seed(Seed::new([7; 32]));
        let signature = pair.sk.sign(message, None);
        [&pair.pk[..], &signature[..], message].concat()
    }

    #[test]
    fn verifies_what_was_signed_and_nothing_else() {
        let good = packed(b"vexil snapshot");
        assert!(verify_packed(&good));
        for i in [0, 40, good.len() - 1] {
            let mut bad = good.clone();
            bad[i] ^= 1;
            assert!(!verify_packed(&bad), "flipped byte {i}");
        }
        assert!(!verify_packed(&good[..95]), "shorter than a key and a signature");
        assert!(verify_packed(&packed(b"")), "an empty message has a signature too");
    }
}
