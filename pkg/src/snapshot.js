// A snapshot: one environment's flags at one version, decoded once by the wasm core and
// evaluated synchronously. The hot path crosses the boundary with numbers only: an actor id
// is written straight into the module's input buffer in wasm memory, the flag is passed as
// its index (looked up once, then cached), and the decision comes back as
// `enabled | reason << 1`.
import { hasVerifier } from './host.js';
import { decodeError, keyBytes, memory, output, reserve, runtime, SnapshotError, toBytes, writeBytes, writeText } from './boundary.js';
import {
  AUDIENCES, FLAG_INFO, FLAG_TYPES, MALFORMED_CONTEXT, MAX_ACTORS, NO_ACTOR, NOT_FOUND, REASONS, STATES,
} from './tables.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const FLOAT = Symbol('vexil.float');

/**
 * Marks a number as a Float for expressions. Flipper's expressions follow Ruby, where
 * `1` and `1.0` differ (`Boolean(1)` is true, `Boolean(1.0)` false); JavaScript numbers do
 * not, and an integral number is sent as an Integer unless wrapped with `asFloat`.
 */
export function asFloat(value) {
  return { [FLOAT]: Number(value) };
}

function audienceNumber(audience) {
  const n = AUDIENCES.indexOf(audience);
  if (n < 0) throw new TypeError(`audience: 'server' or 'browser', not ${JSON.stringify(audience)}`);
  return n;
}

// Snapshots dropped without free() give their wasm memory back when collected.
const unreleased = typeof FinalizationRegistry === 'function' ? new FinalizationRegistry((handle) => runtime().release(handle)) : null;

// The two bits of a flag's `#index` entry below its index: what its evaluation reads.
const READS_RANDOM = 1;
const READS_CLOCK = 2;

/** One environment's flags at one version: decoded once, evaluated synchronously. */
export class Snapshot {
  // The core's exports, and this snapshot's handle in them (0 once freed).
  #rt;
  #handle;
  // Flag name to `index << 2 | reads`, filled on first use (`reads`: READS_RANDOM if the
  // flag reads the random draw, READS_CLOCK the clock; both cost more than an evaluation in
  // some runtimes, Date.now() in a VM, so they are taken only for flags that read them). A
  // dictionary object, not a Map: its lookup is the hot path's largest JS cost, and V8's is
  // faster for string keys.
  #index = Object.create(null);
  #names;
  #clientSide;

  /**
   * Decodes (and, with `publicKeys`, verifies) a snapshot; throws a SnapshotError on bad,
   * unsigned-when-keys-given, or forged input, and — when `environment` or `audience`
   * ('server' or 'browser') is given — on a snapshot of another (WRONG_ENVIRONMENT,
   * WRONG_AUDIENCE).
   */
  static decode(bytes, { publicKeys, environment, audience } = {}) {
    const r = runtime();
    const data = toBytes(bytes);
    const keys = keyBytes(publicKeys);
    if (keys.length > 0 && !hasVerifier()) {
      throw new SnapshotError('VERIFIER_NOT_LOADED', 'checking signatures needs the verifier: `await loadVerifier()` first (browsers)');
    }
    const handle = r.decode(...writeBytes(data, keys));
    let error = r.error(handle);
    const offset = error === 0 ? undefined : r.error_offset(handle);
    if (error === 0 && (environment !== undefined || audience !== undefined)) {
      const expected = audienceNumber(audience ?? AUDIENCES[r.audience(handle)]);
      error = r.expect(handle, writeText(environment ?? decoder.decode(output(r.environment(handle)))), expected);
    }
    if (error !== 0) {
      r.release(handle);
      throw decodeError(error, offset);
    }
    return new Snapshot(r, handle);
  }

  /**
   * Checks `statement` (the origin's `freshness.vxf`, signed by one of `publicKeys`)
   * against this snapshot at `now` (ms; default Date.now()): it must vouch for this
   * environment and audience, not have expired (EXPIRED), and name this version or an
   * older one (ROLLBACK: a newer version exists). Returns `{ version, expiresAt }`, what
   * the statement says; a SnapshotError carries them too, when the statement was readable.
   */
  checkFreshness(statement, { publicKeys, now } = {}) {
    const r = this.#rt;
    const code = r.check_freshness(this.#handle, ...writeBytes(toBytes(statement), keyBytes(publicKeys)), now ?? Date.now());
    const said = { version: r.vouched_version(this.#handle), expiresAt: r.vouched_until(this.#handle) };
    if (code !== 0) throw Object.assign(decodeError(code, undefined), said.expiresAt === 0 ? {} : said);
    return said;
  }

  constructor(rt, handle) {
    this.#rt = rt;
    this.#handle = handle;
    unreleased?.register(this, handle, this);
    /** The version: it increases with every published change. */
    this.version = rt.version(handle);
    /** The environment's name. */
    this.environment = decoder.decode(output(rt.environment(handle)));
    /** When the version was published (ms since the epoch). */
    this.publishedAt = rt.published_at(handle);
    /** 'server' or 'browser'. */
    this.audience = AUDIENCES[rt.audience(handle)];
  }

  /** The public key (Uint8Array) of the snapshot's signature, or null if unsigned. */
  get signer() {
    const key = output(this.#rt.signer(this.#handle));
    return key.length === 0 ? null : key.slice();
  }

  /**
   * `index << 2 | reads` for `flag` (see `#index`), or undefined. Names are looked up in
   * wasm on first use, so decoding stays cheap however many flags a snapshot has.
   */
  #lookup(flag) {
    if (typeof flag !== 'string') throw new TypeError('a flag name is a string');
    let entry = this.#index[flag];
    if (entry === undefined) {
      const index = this.#rt.find(this.#handle, writeText(flag));
      if (index < 0) return undefined;
      const info = this.#rt.flag_info(this.#handle, index);
      entry = (index << 2) | (info & FLAG_INFO.READS_RANDOM ? READS_RANDOM : 0) | (info & FLAG_INFO.READS_CLOCK ? READS_CLOCK : 0);
      this.#index[flag] = entry;
    }
    return entry;
  }

  #allNames() {
    if (this.#names === undefined) {
      const names = decoder.decode(output(this.#rt.names(this.#handle)));
      this.#names = names === '' ? [] : names.split('\n');
    }
    return this.#names;
  }

  /** Whether the snapshot has `flag`. */
  has(flag) {
    return this.#lookup(flag) !== undefined;
  }

  #evalCode(flag, actor, random, now) {
    const entry = this.#lookup(flag);
    if (entry === undefined) return NOT_FOUND;
    const index = entry >>> 2;
    const r = entry & READS_RANDOM ? (random ?? Math.random()) : 0;
    const t = entry & READS_CLOCK ? (now ?? Date.now()) : 0;
    if (actor === undefined || actor === null) return this.#rt.eval_actor(this.#handle, index, NO_ACTOR, r, t);
    if (typeof actor !== 'string') throw new TypeError('an actor is an id string such as "User:42"');
    return this.#rt.eval_actor(this.#handle, index, writeText(actor), r, t);
  }

  /** Whether `flag` is on for `actor` (an id such as "User:42"), or with no actor. */
  isEnabled(flag, actor) {
    return (this.#evalCode(flag, actor, undefined, undefined) & 1) === 1;
  }

  /**
   * Evaluates `flag` for a context: `actors` (ids, or `{ id, properties }`), the random
   * draw in [0, 1) for percentage of time (default Math.random()), and `now` (ms or Date).
   * Returns `{ enabled, reason, version }`.
   */
  evaluate(flag, context = {}) {
    const code = this.#evaluateCode(flag, context);
    return { enabled: (code & 1) === 1, reason: REASONS[code >>> 1], version: this.version };
  }

  #evaluateCode(flag, { actors, random, now } = {}) {
    const t = now instanceof Date ? now.getTime() : now;
    if (!actors || actors.length === 0) return this.#evalCode(flag, undefined, random, t);
    if (actors.length === 1 && typeof actors[0] === 'string') return this.#evalCode(flag, actors[0], random, t);
    const entry = this.#lookup(flag);
    if (entry === undefined) return NOT_FOUND;
    const len = this.#writeContext(actors);
    const code = this.#rt.eval_context(this.#handle, entry >>> 2, len, entry & READS_RANDOM ? (random ?? Math.random()) : 0, entry & READS_CLOCK ? (t ?? Date.now()) : 0);
    if (code === MALFORMED_CONTEXT) throw new TypeError('invalid evaluation context');
    return code;
  }

  #writeContext(actors) {
    if (actors.length > MAX_ACTORS) throw new RangeError(`at most ${MAX_ACTORS} actors per evaluation`);
    const items = actors.map((a) => (typeof a === 'string' ? { id: a, properties: null } : a));
    let size = 1;
    for (const a of items) {
      if (typeof a?.id !== 'string') throw new TypeError('an actor is an id string or { id, properties }');
      size += 3 + a.id.length * 3;
      for (const [k, v] of Object.entries(a.properties ?? {})) {
        size += 3 + k.length * 3 + 9 + (typeof v === 'string' ? 4 + v.length * 3 : 0);
      }
    }
    const ptr = reserve(size);
    const m = memory();
    const view = new DataView(m.buffer, ptr, size);
    let at = 0;
    // Ids and property names carry a 16-bit length: a longer one would wrap it, and the core
    // would read another context than the one given.
    const str = (s, lenBytes, what) => {
      const r = encoder.encodeInto(s, m.subarray(ptr + at + lenBytes, ptr + size));
      if (lenBytes === 2 && r.written > 0xffff) {
        throw new RangeError(`${what} ${JSON.stringify(s.slice(0, 24))}… is ${r.written} bytes of UTF-8, more than the 65535 an evaluation context holds`);
      }
      if (lenBytes === 2) view.setUint16(at, r.written, true);
      else view.setUint32(at, r.written, true);
      at += lenBytes + r.written;
    };
    view.setUint8(at++, items.length);
    for (const a of items) {
      str(a.id, 2, 'the actor id');
      const props = Object.entries(a.properties ?? {});
      if (props.length > 255) throw new RangeError('at most 255 properties per actor');
      view.setUint8(at++, props.length);
      for (const [k, v] of props) {
        str(k, 2, 'the property name');
        if (v === null || v === undefined) view.setUint8(at++, 0);
        else if (v === false) view.setUint8(at++, 1);
        else if (v === true) view.setUint8(at++, 2);
        else if (typeof v === 'number') {
          view.setUint8(at++, Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER ? 3 : 4);
          view.setFloat64(at, v, true);
          at += 8;
        } else if (typeof v === 'object' && FLOAT in v) {
          view.setUint8(at++, 4);
          view.setFloat64(at, v[FLOAT], true);
          at += 8;
        } else if (typeof v === 'string') {
          view.setUint8(at++, 5);
          str(v, 4);
        } else if (v instanceof Date) {
          view.setUint8(at++, 5);
          str(v.toISOString(), 4);
        } else {
          throw new TypeError(`property ${k}: values are strings, numbers, booleans, dates or null`);
        }
      }
    }
    return at;
  }

  /**
   * The codes (`enabled | reason << 1`) of `count` flags for `context`: every flag, or the
   * client-side ones. One call into wasm, which decodes the context once; one random draw
   * and one clock reading, unless the context gives them, serve them all (taken whether or
   * not a flag reads them: once per call, that costs less than finding out). A view into
   * wasm memory, valid until the next call.
   */
  #evaluateSet(context, clientSideOnly, count) {
    const now = context.now instanceof Date ? context.now.getTime() : context.now;
    const len = this.#writeContext(context.actors ?? []);
    const codes = output(this.#rt.eval_all(this.#handle, len, context.random ?? Math.random(), now ?? Date.now(), clientSideOnly ? 1 : 0));
    if (codes.length !== count) throw new TypeError('invalid evaluation context');
    return codes;
  }

  /** Every flag's decision for one context: `{ [flag]: { enabled, reason, version } }`. */
  evaluateAll(context = {}) {
    const names = this.#allNames();
    const codes = this.#evaluateSet(context, false, names.length);
    const out = {};
    for (let i = 0; i < names.length; i++) out[names[i]] = { enabled: (codes[i] & 1) === 1, reason: REASONS[codes[i] >>> 1], version: this.version };
    return out;
  }

  /**
   * What an edge worker or server inlines into a page (see `bootstrapScript`): every
   * client-side flag's result for `context`, and the version they come from —
   * `{ environment, version, flags: { [flag]: boolean } }`. The page learns results only:
   * no ids, no gates, no server-only flag names.
   */
  bootstrap(context = {}) {
    const names = this.#allNames();
    if (this.#clientSide === undefined) {
      this.#clientSide = [];
      for (let i = 0; i < names.length; i++) if ((this.#rt.flag_info(this.#handle, i) & FLAG_INFO.CLIENT_SIDE) !== 0) this.#clientSide.push(i);
    }
    const codes = this.#evaluateSet(context, true, this.#clientSide.length);
    const flags = {};
    this.#clientSide.forEach((i, k) => {
      flags[names[i]] = (codes[k] & 1) === 1;
    });
    return { environment: this.environment, version: this.version, flags };
  }

  /** The flags: `[{ name, type, defaultEnabled, clientSide, persisted, state }]`. */
  flags() {
    return this.#allNames().map((name, i) => {
      const info = this.#rt.flag_info(this.#handle, i);
      return {
        name,
        type: FLAG_TYPES[info & FLAG_INFO.TYPE_MASK],
        defaultEnabled: (info & FLAG_INFO.DEFAULT_ENABLED) !== 0,
        clientSide: (info & FLAG_INFO.CLIENT_SIDE) !== 0,
        persisted: (info & FLAG_INFO.PERSISTED) !== 0,
        state: STATES[(info >>> FLAG_INFO.STATE_SHIFT) & FLAG_INFO.STATE_MASK],
      };
    });
  }

  /** Frees the wasm memory now (it is also freed when the snapshot is garbage-collected). */
  free() {
    if (this.#handle === 0) return;
    unreleased?.unregister(this);
    this.#rt.release(this.#handle);
    this.#handle = 0;
  }
}

