// Reading an origin: bodies no larger than they may be, within a time, and where the
// freshness statement lives, and the storage the high-water mark is kept in.
import { SnapshotError } from './boundary.js';
import { MAX_SNAPSHOT_BYTES } from './tables.js';

/**
 * A response's body, read no further than the core would decode: an origin sending more
 * (or declaring more) is refused before it fills the page's memory.
 */
export async function snapshotBody(res, what, limit = MAX_SNAPSHOT_BYTES) {
  const declared = Number(res.headers.get('Content-Length') ?? 0);
  if (declared > limit || !res.body) {
    res.body?.cancel().catch(() => {});
    if (!res.body) return new Uint8Array(await res.arrayBuffer());
    throw new SnapshotError('FETCH_FAILED', `${what}: ${declared} bytes, more than it may hold (${limit})`);
  }
  const reader = res.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { value, done } = await reader.read().catch((e) => {
      throw timedOut(e, what) ?? e;
    });
    if (done) break;
    size += value.length;
    if (size > limit) {
      reader.cancel().catch(() => {});
      throw new SnapshotError('FETCH_FAILED', `${what}: more than it may hold (${limit} bytes)`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return bytes;
}

/** A fetch's time-out as the SnapshotError callers see (null: another failure). */
export function timedOut(e, what) {
  return e?.name === 'TimeoutError' ? new SnapshotError('TIMEOUT', `${what}: no complete answer in time (slow or stalled origin)`) : null;
}

/** The statement's name next to `latest.vxl` (see the publisher's freshness.rs). */
export const FRESHNESS = 'freshness.vxf';

/** localStorage where the runtime has one (browsers), for the high-water mark. */
export function defaultStorage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

/** An environment's base URL without trailing slashes. */
export function baseOf(url) {
  return String(url).replace(/\/+$/, '');
}
