//! ed25519 verification as its own small WebAssembly module: the `vexil` npm package loads
//! it only when a caller gives public keys, so pages that do not check signatures never
//! download the curve arithmetic.

#![cfg_attr(target_arch = "wasm32", no_std)]

use wasm_bindgen::prelude::*;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
#[allow(unsafe_code)]
// SAFETY: wasm32-unknown-unknown without the atomics feature has one thread, which is what
// AssumeSingleThreaded requires.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// Whether `signature` (64 bytes) is `public_key`'s (32 bytes) ed25519 signature of
/// `message`.
#[wasm_bindgen]
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let (Ok(key), Ok(sig)) =
        (ed25519_compact::PublicKey::from_slice(public_key), ed25519_compact::Signature::from_slice(signature))
    else {
        return false;
    };
    key.verify(message, &sig).is_ok()
}
