//! The module's ABI: every export takes and returns numbers, and bytes cross through two
//! buffers in wasm memory. JavaScript reserves room in the input buffer with `io`, writes its
//! input there and passes lengths; an export that returns bytes writes them to the output
//! buffer (at `out()`) and returns their length. A snapshot crosses as a handle, the address
//! of its boxed [`RawSnapshot`].
//!
//! Hand-written rather than generated: wasm-bindgen's glue cost about 300 bytes of wasm per
//! export and 6 KB of minified JS, more than this whole file does, in the module every page
//! downloads. The JS side is pkg/src/core.js; this is the only place the crate uses `unsafe`.
#![allow(unsafe_code)]

use crate::RawSnapshot;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use vexil_core::{FloatText, Verifier};

// A free-list allocator of a few hundred bytes instead of dlmalloc's several kilobytes: the
// module allocates little (a snapshot's index, the two buffers) and runs single-threaded.
#[global_allocator]
// SAFETY: wasm32-unknown-unknown without the atomics feature has one thread, which is what
// AssumeSingleThreaded requires.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // Nothing in vexil-core panics on any input; should something still, trap rather than
    // carry the formatting machinery a message would need.
    core::arch::wasm32::unreachable()
}

#[link(wasm_import_module = "vexil")]
extern "C" {
    /// ed25519 verification by the separately loaded verifier: 1 if `signature` (64 bytes)
    /// is `key`'s (32 bytes) signature of the `message_len` bytes at `message`.
    fn verify(key: *const u8, message: *const u8, message_len: usize, signature: *const u8) -> u32;
    /// Writes `f.toExponential()` (shortest round-trip digits, `d.ddde+x`, at most 24
    /// ASCII bytes) at `out`; returns its length.
    fn exponential(f: f64, out: *mut u8) -> usize;
    /// `Number(text)` of the UTF-8 text at `text`.
    fn parse_number(text: *const u8, len: usize) -> f64;
}

struct Host;

impl Verifier for Host {
    fn verify(&self, public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
        // SAFETY: the host reads 32, message.len() and 64 bytes at these addresses, which
        // is what each borrow holds.
        unsafe { verify(public_key.as_ptr(), message.as_ptr(), message.len(), signature.as_ptr()) == 1 }
    }
}

impl FloatText for Host {
    fn shortest(&self, f: f64, digits: &mut [u8; 17]) -> (usize, i32) {
        let mut text = [0u8; 32];
        // SAFETY: the host writes at most 24 bytes at `out`, and `text` has 32.
        let len = unsafe { exponential(f, text.as_mut_ptr()) };
        let text = text.get(..len).and_then(|t| core::str::from_utf8(t).ok()).unwrap_or("0e+0");
        vexil_core::digits_of_exponential(text, digits)
    }

    fn parse(&self, text: &str) -> f64 {
        // SAFETY: the host reads `text.len()` bytes at `text`.
        unsafe { parse_number(text.as_ptr(), text.len()) }
    }
}

static HOST: Host = Host;

struct Shared(UnsafeCell<Vec<u8>>);

// SAFETY: wasm32-unknown-unknown without the atomics feature has one thread.
unsafe impl Sync for Shared {}

static IO: Shared = Shared(UnsafeCell::new(Vec::new()));
static OUT: Shared = Shared(UnsafeCell::new(Vec::new()));

/// The input buffer. Each export takes it at most once, and the host never calls back into
/// the module, so no two references to it are ever alive together.
fn shared() -> &'static mut Vec<u8> {
    // SAFETY: see above: one thread, one reference at a time.
    unsafe { &mut *IO.0.get() }
}

/// The first `len` bytes of the input buffer (fewer if it is shorter).
fn input(len: usize) -> &'static [u8] {
    let io = shared();
    &io[..len.min(io.len())]
}

/// Two inputs written back to back.
fn inputs(first: usize, second: usize) -> (&'static [u8], &'static [u8]) {
    let both = input(first.saturating_add(second));
    both.split_at(first.min(both.len()))
}

/// Replaces the output buffer's contents with what `write` appends; returns their length.
fn output(write: impl FnOnce(&mut Vec<u8>)) -> usize {
    // SAFETY: as for the input buffer; only this function takes the output buffer.
    let out = unsafe { &mut *OUT.0.get() };
    out.clear();
    write(out);
    out.len()
}

/// Where the last export that returned bytes wrote them (it moves as the buffer grows).
#[no_mangle]
pub extern "C" fn out() -> *const u8 {
    // SAFETY: as in `output`; the reference ends here.
    unsafe { &*OUT.0.get() }.as_ptr()
}

fn snapshot(handle: u32) -> Option<&'static mut RawSnapshot> {
    // SAFETY: a handle is 0 or what `decode` returned and `release` has not yet taken back;
    // the JS layer owns each handle in one Snapshot object, which forgets it when it
    // releases it.
    (handle != 0).then(|| unsafe { &mut *(handle as *mut RawSnapshot) })
}

/// Makes the input buffer at least `len` bytes long; returns its address (which moves when
/// it grows, so JS asks again before writing more than it last reserved).
#[no_mangle]
pub extern "C" fn io(len: usize) -> *mut u8 {
    let io = shared();
    if io.len() < len {
        io.resize(len.next_power_of_two(), 0);
    }
    io.as_mut_ptr()
}

/// Decodes the snapshot of `bytes_len` bytes in the input buffer, checking its signature
/// against the `keys_len` bytes of concatenated 32-byte keys after it; returns a handle
/// (check `error` first).
#[no_mangle]
pub extern "C" fn decode(bytes_len: usize, keys_len: usize) -> u32 {
    let (bytes, keys) = inputs(bytes_len, keys_len);
    Box::into_raw(Box::new(RawSnapshot::decode(bytes, keys, &HOST))) as u32
}

/// Frees a snapshot; its handle is invalid afterwards.
#[no_mangle]
pub extern "C" fn release(handle: u32) {
    if handle != 0 {
        // SAFETY: as in `snapshot`; and the JS layer releases each handle once.
        drop(unsafe { Box::from_raw(handle as *mut RawSnapshot) });
    }
}

#[no_mangle]
pub extern "C" fn error(handle: u32) -> u32 {
    snapshot(handle).map_or(0, |s| s.error())
}

#[no_mangle]
pub extern "C" fn error_offset(handle: u32) -> u32 {
    snapshot(handle).map_or(0, |s| s.error_offset())
}

/// The environment name is the first `environment_len` bytes of the input buffer.
#[no_mangle]
pub extern "C" fn expect(handle: u32, environment_len: usize, audience: u32) -> u32 {
    let environment = core::str::from_utf8(input(environment_len)).unwrap_or("\0");
    snapshot(handle).map_or(0, |s| s.expect(environment, audience))
}

/// The statement and its keys are in the input buffer, back to back.
#[no_mangle]
pub extern "C" fn check_freshness(handle: u32, statement_len: usize, keys_len: usize, now: f64) -> u32 {
    let (statement, keys) = inputs(statement_len, keys_len);
    snapshot(handle).map_or(0, |s| s.check_freshness(statement, keys, now, &HOST))
}

#[no_mangle]
pub extern "C" fn vouched_version(handle: u32) -> f64 {
    snapshot(handle).map_or(0.0, |s| s.vouched_version())
}

#[no_mangle]
pub extern "C" fn vouched_until(handle: u32) -> f64 {
    snapshot(handle).map_or(0.0, |s| s.vouched_until())
}

#[no_mangle]
pub extern "C" fn version(handle: u32) -> f64 {
    snapshot(handle).map_or(0.0, |s| s.version())
}

#[no_mangle]
pub extern "C" fn published_at(handle: u32) -> f64 {
    snapshot(handle).map_or(0.0, |s| s.published_at())
}

#[no_mangle]
pub extern "C" fn audience(handle: u32) -> u32 {
    snapshot(handle).map_or(0, |s| s.audience())
}

/// Outputs the environment's name.
#[no_mangle]
pub extern "C" fn environment(handle: u32) -> usize {
    output(|out| {
        if let Some(s) = snapshot(handle) {
            s.environment(out);
        }
    })
}

/// Outputs every flag name, in index order and joined by newlines.
#[no_mangle]
pub extern "C" fn names(handle: u32) -> usize {
    output(|out| {
        if let Some(s) = snapshot(handle) {
            s.names(out);
        }
    })
}

/// Outputs the signer's key: 32 bytes, or none if unsigned.
#[no_mangle]
pub extern "C" fn signer(handle: u32) -> usize {
    output(|out| {
        if let Some(s) = snapshot(handle) {
            s.signer(out);
        }
    })
}

/// The flag's name is the first `name_len` bytes of the input buffer.
#[no_mangle]
pub extern "C" fn find(handle: u32, name_len: usize) -> i32 {
    let Ok(name) = core::str::from_utf8(input(name_len)) else { return -1 };
    snapshot(handle).map_or(-1, |s| s.find(name))
}

#[no_mangle]
pub extern "C" fn flag_info(handle: u32, index: u32) -> u32 {
    snapshot(handle).map_or(crate::flag_info::NONE, |s| s.flag_info(index))
}

/// The actor's id is the first `id_len` bytes of the input buffer ([`crate::NO_ACTOR`]:
/// no actor).
#[no_mangle]
pub extern "C" fn eval_actor(handle: u32, index: u32, id_len: u32, random: f64, now: f64) -> u32 {
    let id = (id_len != crate::NO_ACTOR).then(|| input(id_len as usize));
    snapshot(handle).map_or(crate::NOT_FOUND, |s| s.eval_actor(index, id, random, now))
}

/// The context is the first `len` bytes of the input buffer.
#[no_mangle]
pub extern "C" fn eval_context(handle: u32, index: u32, len: usize, random: f64, now: f64) -> u32 {
    snapshot(handle).map_or(crate::NOT_FOUND, |s| s.eval_context(index, input(len), random, now))
}

/// The context is the first `len` bytes of the input buffer; outputs every flag's code (or
/// every client-side flag's, when `client_side_only` is 1).
#[no_mangle]
pub extern "C" fn eval_all(handle: u32, len: usize, random: f64, now: f64, client_side_only: u32) -> usize {
    output(|out| {
        if let Some(s) = snapshot(handle) {
            s.eval_all(input(len), random, now, client_side_only == 1, out);
        }
    })
}
