// The wasm boundary: the runtime each entry point instantiates and hands to `bind`, the view
// of wasm memory the SDK writes actor ids and contexts into, and the typed errors the
// module's numbers turn into. Every number with a meaning comes from tables.js, generated
// from the Rust definitions.
import { DECODE_ERRORS, ERROR_FOUND_SHIFT, versionMismatch } from './tables.js';

/** Why a snapshot was refused: `code` says what kind of problem, `offset` where. */
export class SnapshotError extends Error {
  constructor(code, message, offset = 0) {
    super(message);
    this.name = 'SnapshotError';
    this.code = code;
    this.offset = offset;
  }
}

let rt = null;
let view = new Uint8Array(0);
let loadRuntime = null;
// The module's input buffer, as last reserved: every export that reads bytes reads them
// from there (exports that return bytes write them to a buffer of their own, at `out()`).
let ioAt = 0;
let ioRoom = -1;
// The text the input buffer holds from its start, as `writeText` last wrote it (null once
// anything else is written there): a page asks about many flags for one visitor, and the id
// it writes for every call is then already in place.
let held = null;
let heldLength = 0;
const encoder = new TextEncoder();

/**
 * Called by the entry point: with the core's instance exports, or (browsers) with a function
 * that instantiates it, which clients call before their first snapshot.
 */
export function bind(exports, { load } = {}) {
  if (exports !== null) {
    rt = exports;
    // A new instance has its own memory and buffer.
    view = new Uint8Array(0);
    ioRoom = -1;
    held = null;
  }
  if (load) loadRuntime = load;
}

/** Initialises the runtime if the entry point left that to the first client. */
export async function runtimeLoaded() {
  if (rt === null && loadRuntime !== null) await loadRuntime();
}

/** The core's exports (crates/vexil-wasm/src/abi.rs). */
export function runtime() {
  if (rt === null) {
    throw new SnapshotError('NOT_READY', 'vexil is not initialised: in browsers, `await ready()` first');
  }
  return rt;
}

/** wasm memory as bytes, re-viewed after the memory grows (growth detaches the old buffer). */
export function memory() {
  if (view.byteLength === 0) view = new Uint8Array(rt.memory.buffer);
  return view;
}

/** The address of at least `len` bytes of the input buffer, for the caller to write. */
export function reserve(len) {
  held = null;
  if (len > ioRoom) {
    ioAt = rt.io(len);
    ioRoom = len;
  }
  return ioAt;
}

/** Writes `text` as UTF-8 to the input buffer (unless it is there already); returns its length in bytes. */
export function writeText(text) {
  if (text === held) return heldLength;
  const n = text.length;
  const at = reserve(n * 3);
  const m = memory();
  let i = 0;
  // Ids and names are ASCII almost always, and a loop is faster than encodeInto for them.
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) break;
    m[at + i] = c;
  }
  held = text;
  heldLength = i === n ? n : encoder.encodeInto(text, m.subarray(at, at + n * 3)).written;
  return heldLength;
}

/** Writes byte arrays back to back to the input buffer; returns their lengths. */
export function writeBytes(...parts) {
  const at = reserve(parts.reduce((sum, p) => sum + p.length, 0));
  const m = memory();
  let offset = at;
  for (const p of parts) {
    m.set(p, offset);
    offset += p.length;
  }
  return parts.map((p) => p.length);
}

/** The `len` bytes an export just returned: a view, valid until the next call into the module. */
export function output(len) {
  const at = rt.out();
  return memory().subarray(at, at + len);
}

function base64ToBytes(text) {
  const bin = atob(text.trim());
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** `publicKeys` (base64 strings or 32-byte arrays) as the module takes them: concatenated. */
export function keyBytes(publicKeys) {
  if (!publicKeys || publicKeys.length === 0) return new Uint8Array(0);
  const out = new Uint8Array(32 * publicKeys.length);
  publicKeys.forEach((k, i) => {
    let b = k;
    if (typeof k === 'string') {
      try {
        b = base64ToBytes(k);
      } catch {
        b = null;
      }
    }
    if (!(b instanceof Uint8Array) || b.length !== 32) {
      throw new TypeError(`publicKeys[${i}]: an ed25519 public key is 32 bytes (base64 or Uint8Array)`);
    }
    out.set(b, 32 * i);
  });
  return out;
}

export function toBytes(bytes) {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  throw new TypeError('a snapshot is bytes: Uint8Array, ArrayBuffer or another ArrayBuffer view');
}

/**
 * The SnapshotError for the module's `error()` number and offset (none for what is wrong
 * with the whole snapshot: its environment, audience, freshness).
 */
export function decodeError(error, offset) {
  const [code, message] = DECODE_ERRORS[(error & ((1 << ERROR_FOUND_SHIFT) - 1)) - 1];
  if (code === 'VERSION_MISMATCH') return new SnapshotError(code, versionMismatch(error >>> ERROR_FOUND_SHIFT), offset);
  return new SnapshotError(code, offset === undefined ? message : `${message} at byte ${offset}`, offset ?? 0);
}
