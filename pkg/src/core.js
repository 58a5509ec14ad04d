// The runtime-independent part of the SDK. Each entry point (node.js, workerd.js,
// browser.js) instantiates the wasm module its own way and hands it to `bind`; after that
// every call here is synchronous.
//
// The wasm boundary is kept to numbers: an actor id is written straight into the snapshot's
// scratch buffer in wasm memory, the flag is passed as its index (looked up in a JS Map),
// and the decision comes back as `enabled | reason << 1`.

const REASONS = ['boolean', 'expression', 'actor', 'percentage_of_actors', 'percentage_of_time', 'group', 'default', 'off', 'opt_out', 'not_found'];
// 'bootstrap' is not the core's: a bootstrapped client answers it before its first snapshot.
const TYPES = ['gitlab_com_derisk', 'wip', 'beta', 'ops', 'experiment', 'worker', 'undefined', 'development'];
const STATES = ['on', 'conditional', 'off'];
const NO_ACTOR = 0xffffffff;
const MAX_ACTORS = 64;

// Decode error numbers (RawSnapshot.error() - 1), as vexil-core's DecodeErrorKind.
const DECODE_ERRORS = [
  ['BAD_MAGIC', 'not a vexil snapshot (bad magic)'],
  ['VERSION_MISMATCH', null],
  ['TRUNCATED', 'truncated snapshot'],
  ['MALFORMED', 'malformed integer'],
  ['MALFORMED', 'malformed boolean'],
  ['MALFORMED', 'string is not UTF-8'],
  ['MALFORMED', 'unknown tag'],
  ['MALFORMED', 'entries out of order or repeated'],
  ['MALFORMED', 'reference to a missing entry'],
  ['MALFORMED', 'percentage above 100'],
  ['MALFORMED', 'gates set on a flag that is not persisted'],
  ['MALFORMED', 'malformed actor keys'],
  ['MALFORMED', 'malformed expression'],
  ['TOO_LARGE', 'snapshot exceeds a size limit'],
  ['MALFORMED', 'trailing bytes after the snapshot'],
  ['UNSIGNED', 'snapshot is not signed, but public keys were given'],
  ['UNTRUSTED_KEY', 'snapshot is signed by an untrusted key'],
  ['BAD_SIGNATURE', 'snapshot signature does not verify (forged or corrupted)'],
  ['MALFORMED', 'malformed snapshot'],
];

const FLOAT = Symbol('vexil.float');

/**
 * Marks a number as a Float for expressions. Flipper's expressions follow Ruby, where
 * `1` and `1.0` differ (`Boolean(1)` is true, `Boolean(1.0)` false); JavaScript numbers do
 * not, and an integral number is sent as an Integer unless wrapped with `asFloat`.
 */
export function asFloat(value) {
  return { [FLOAT]: Number(value) };
}

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
let memory = new Uint8Array(0);
const encoder = new TextEncoder();

let loadRuntime = null;

/**
 * Called by the entry point: with the initialised wasm glue, or (browsers) with a function
 * that initialises it, which clients call before their first snapshot.
 */
export function bind(runtime, { load } = {}) {
  if (runtime !== null) rt = runtime;
  if (load) loadRuntime = load;
}

async function runtimeLoaded() {
  if (rt === null && loadRuntime !== null) await loadRuntime();
}

function requireRuntime() {
  if (rt === null) {
    throw new SnapshotError('NOT_READY', 'vexil is not initialised: in browsers, `await ready()` first');
  }
  return rt;
}

function mem() {
  // Growth detaches the old buffer; a view over it then has length 0.
  if (memory.byteLength === 0) memory = new Uint8Array(rt.wasm.memory.buffer);
  return memory;
}

function base64ToBytes(text) {
  const bin = atob(text.trim());
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function keyBytes(publicKeys) {
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

function toBytes(bytes) {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  throw new TypeError('a snapshot is bytes: Uint8Array, ArrayBuffer or another ArrayBuffer view');
}

function decodeError(code, offset) {
  const [name, message] = DECODE_ERRORS[(code & 0xff) - 1] ?? DECODE_ERRORS[DECODE_ERRORS.length - 1];
  if (name === 'VERSION_MISMATCH') {
    return new SnapshotError(name, `snapshot format version ${code >>> 8} is not supported (this build reads version 1); upgrade vexil`, offset);
  }
  return new SnapshotError(name, `${message} at byte ${offset}`, offset);
}

/** One environment's flags at one version: decoded once, evaluated synchronously. */
export class Snapshot {
  #raw;
  #index = new Map();
  #names;
  // Per flag: 1 if it reads the random draw, 2 if it reads the clock. Both cost more than
  // an evaluation in some runtimes (Date.now() in a VM), so they are read only when used.
  #inputs;
  #clientSide;
  #ptr = 0;
  #cap = 0;

  /**
   * Decodes (and, with `publicKeys`, verifies) a snapshot; throws a SnapshotError on bad,
   * unsigned-when-keys-given, or forged input.
   */
  static decode(bytes, { publicKeys } = {}) {
    const r = requireRuntime();
    const data = toBytes(bytes);
    const keys = keyBytes(publicKeys);
    if (keys.length > 0 && !r.host.hasVerifier()) {
      throw new SnapshotError('VERIFIER_NOT_LOADED', 'checking signatures needs the verifier: `await loadVerifier()` first (browsers)');
    }
    const raw = r.RawSnapshot.decode(data, keys);
    const error = raw.error();
    if (error !== 0) {
      const offset = raw.error_offset();
      raw.free();
      throw decodeError(error, offset);
    }
    return new Snapshot(raw);
  }

  constructor(raw) {
    this.#raw = raw;
    // Names are looked up in wasm on first use and cached here, so decoding stays cheap
    // however many flags a snapshot has.
    this.#inputs = raw.inputs();
    /** The version: it increases with every published change. */
    this.version = raw.version();
    /** The environment's name. */
    this.environment = raw.environment();
    /** When the version was published (ms since the epoch). */
    this.publishedAt = raw.published_at();
    /** 'server' or 'browser'. */
    this.audience = raw.audience() === 1 ? 'browser' : 'server';
  }

  /** The public key (Uint8Array) of the snapshot's signature, or null if unsigned. */
  get signer() {
    return this.#raw.signer() ?? null;
  }

  #lookup(flag) {
    let index = this.#index.get(flag);
    if (index === undefined) {
      if (typeof flag !== 'string') throw new TypeError('a flag name is a string');
      index = this.#raw.find(flag);
      if (index < 0) return undefined;
      this.#index.set(flag, index);
    }
    return index;
  }

  #allNames() {
    if (this.#names === undefined) {
      const names = this.#raw.names();
      this.#names = names === '' ? [] : names.split('\n');
    }
    return this.#names;
  }

  /** Whether the snapshot has `flag`. */
  has(flag) {
    return this.#lookup(flag) !== undefined;
  }

  #scratch(len) {
    if (len > this.#cap) {
      this.#ptr = this.#raw.scratch(len);
      this.#cap = len;
    }
    return this.#ptr;
  }

  #writeId(id) {
    const n = id.length;
    const ptr = this.#scratch(n * 3);
    const m = mem();
    let i = 0;
    for (; i < n; i++) {
      const c = id.charCodeAt(i);
      if (c > 0x7f) break;
      m[ptr + i] = c;
    }
    if (i === n) return n;
    return encoder.encodeInto(id, m.subarray(ptr, ptr + n * 3)).written;
  }

  #evalCode(flag, actor, random, now) {
    const index = this.#lookup(flag);
    if (index === undefined) return 9 << 1;
    const inputs = this.#inputs[index];
    const r = inputs & 1 ? (random ?? Math.random()) : 0;
    const t = inputs & 2 ? (now ?? Date.now()) : 0;
    if (actor === undefined || actor === null) return this.#raw.eval_actor(index, NO_ACTOR, r, t);
    if (typeof actor !== 'string') throw new TypeError('an actor is an id string such as "User:42"');
    return this.#raw.eval_actor(index, this.#writeId(actor), r, t);
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
    const index = this.#lookup(flag);
    if (index === undefined) return 9 << 1;
    const inputs = this.#inputs[index];
    const len = this.#writeContext(actors);
    const code = this.#raw.eval_context(index, len, inputs & 1 ? (random ?? Math.random()) : 0, inputs & 2 ? (t ?? Date.now()) : 0);
    if (code === 0xffffffff) throw new TypeError('invalid evaluation context');
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
    const ptr = this.#scratch(size);
    const m = mem();
    const view = new DataView(m.buffer, ptr, size);
    let at = 0;
    const str = (s, lenBytes) => {
      const r = encoder.encodeInto(s, m.subarray(ptr + at + lenBytes, ptr + size));
      if (lenBytes === 2) view.setUint16(at, r.written, true);
      else view.setUint32(at, r.written, true);
      at += lenBytes + r.written;
    };
    view.setUint8(at++, items.length);
    for (const a of items) {
      str(a.id, 2);
      const props = Object.entries(a.properties ?? {});
      if (props.length > 255) throw new RangeError('at most 255 properties per actor');
      view.setUint8(at++, props.length);
      for (const [k, v] of props) {
        str(k, 2);
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
   * One random draw and one clock reading for a set of flags (`inputs`: their input bits),
   * taken only if one of them needs it, unless the context gives them.
   */
  #drawsFor(context, inputs) {
    const needs = inputs.reduce((a, b) => a | b, 0);
    const t = context.now instanceof Date ? context.now.getTime() : context.now;
    return { random: context.random ?? (needs & 1 ? Math.random() : 0), now: t ?? (needs & 2 ? Date.now() : 0) };
  }

  /** Every flag's decision for one context: `{ [flag]: { enabled, reason, version } }`. */
  evaluateAll(context = {}) {
    const out = {};
    const { random, now } = this.#drawsFor(context, this.#inputs);
    for (const name of this.#allNames()) out[name] = this.evaluate(name, { ...context, random, now });
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
      for (let i = 0; i < names.length; i++) if ((this.#raw.flag_info(i) & 32) !== 0) this.#clientSide.push(i);
    }
    const { random, now } = this.#drawsFor(context, this.#clientSide.map((i) => this.#inputs[i]));
    // One call into wasm for the whole set: the context is decoded once.
    const len = this.#writeContext(context.actors ?? []);
    const enabled = this.#raw.eval_client_side(len, random, now);
    if (enabled.length !== this.#clientSide.length) throw new TypeError('invalid evaluation context');
    const flags = {};
    this.#clientSide.forEach((i, k) => {
      flags[names[i]] = enabled[k] === 1;
    });
    return { environment: this.environment, version: this.version, flags };
  }

  /** The flags: `[{ name, type, defaultEnabled, clientSide, persisted, state }]`. */
  flags() {
    return this.#allNames().map((name, i) => {
      const info = this.#raw.flag_info(i);
      return {
        name,
        type: TYPES[info & 15],
        defaultEnabled: (info & 16) !== 0,
        clientSide: (info & 32) !== 0,
        persisted: (info & 64) !== 0,
        state: STATES[(info >>> 7) & 3],
      };
    });
  }

  /** Frees the wasm memory now (it is also freed when the snapshot is garbage-collected). */
  free() {
    this.#raw.free();
  }
}

const BOOTSTRAP_ID = 'vexil-bootstrap';

/**
 * `result` (from `snapshot.bootstrap(context)`) as a `<script type="application/json">`
 * element for the page's HTML, escaped so no flag name can end the script early.
 */
export function bootstrapScript(result, { nonce } = {}) {
  const json = JSON.stringify(result).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const attr = nonce === undefined ? '' : ` nonce="${String(nonce).replace(/[^A-Za-z0-9+/=_-]/g, '')}"`;
  return `<script type="application/json" id="${BOOTSTRAP_ID}"${attr}>${json}</script>`;
}

/** The bootstrap `bootstrapScript` put into this page, or null if there is none. */
export function readBootstrap(doc = globalThis.document) {
  const text = doc?.getElementById(BOOTSTRAP_ID)?.textContent;
  return text ? JSON.parse(text) : null;
}

function checkBootstrap(b) {
  const ok =
    b !== null &&
    typeof b === 'object' &&
    typeof b.environment === 'string' &&
    Number.isSafeInteger(b.version) &&
    b.version >= 0 &&
    b.flags !== null &&
    typeof b.flags === 'object' &&
    Object.values(b.flags).every((v) => typeof v === 'boolean');
  if (!ok) throw new TypeError('bootstrap: expected { environment, version, flags: { [flag]: boolean } } from snapshot.bootstrap()');
  return b;
}

/** Resolves once the page has rendered: after `load`, and after the next frame. */
function afterFirstRender() {
  const w = globalThis;
  if (!w.document) return Promise.resolve();
  const loaded = w.document.readyState === 'complete' ? Promise.resolve() : new Promise((r) => w.addEventListener('load', r, { once: true }));
  return loaded.then(
    () =>
      new Promise((resolve) => {
        // Hidden tabs get no frames; the timer makes sure they upgrade too.
        const timer = setTimeout(resolve, 1000);
        w.requestAnimationFrame?.(() => setTimeout(() => (clearTimeout(timer), resolve()), 0));
      }),
  );
}

/** OpenFeature-style reasons for vexil's: see the providers. */
export function openFeatureReason(reason) {
  switch (reason) {
    case 'boolean':
      return 'STATIC';
    case 'default':
      return 'DEFAULT';
    case 'off':
      return 'DISABLED';
    case 'percentage_of_actors':
    case 'percentage_of_time':
      return 'SPLIT';
    case 'not_found':
      return 'ERROR';
    case 'bootstrap':
      return 'CACHED';
    default:
      return 'TARGETING_MATCH';
  }
}

/**
 * A client that holds the current snapshot of one environment and follows updates.
 *
 * Sources: `bytes` (ready at once), `url` (an environment's base URL: `latest.vxl` is
 * fetched with ETags), or `kv` (a Workers KV namespace or anything with
 * `get(key, 'arrayBuffer')`; `key` defaults to 'latest.vxl'). With `live`, a `url` client
 * follows the origin's event stream (`<url>/events`, offered by `vexil serve`) and fetches
 * each announced version; where the origin has no stream (a bucket, a CDN) it polls
 * `latest.vxl` every `pollInterval` ms (default 15000), as does a `kv` client. It keeps the
 * last good snapshot when a new one is bad, forged, or older (rollback protection).
 *
 * With `bootstrap` (what an edge worker computed for this page: `snapshot.bootstrap()`),
 * the client answers at once, for the page's own context, without wasm or network. A
 * `url` or `kv` given too is loaded only after the page has rendered (or on `upgrade()`);
 * from then on the snapshot answers, for `context`. Snapshots older than the bootstrap are
 * refused, so values never step back.
 */
export function createClient(options = {}) {
  return new Client(options);
}

class Client {
  #options;
  #snapshot = null;
  #etag = null;
  #timer = null;
  #subscribers = new Set();
  #listeners = new Map();
  #closed = false;
  #stream = null;
  #bootstrap = null;
  #upgrade = null;
  #following = false;

  constructor(options) {
    const sources = ['url', 'bytes', 'kv'].filter((k) => options[k] !== undefined);
    // `readBootstrap()` gives null on a page rendered without one: a plain client then.
    const bootstrapped = options.bootstrap !== undefined && options.bootstrap !== null;
    if (bootstrapped ? sources.length > 1 || options.bytes !== undefined : sources.length !== 1) {
      throw new TypeError(
        bootstrapped
          ? 'createClient with a bootstrap takes at most one of url or kv, to upgrade to'
          : 'createClient needs exactly one of url, bytes or kv (or a bootstrap)',
      );
    }
    this.#options = { pollInterval: 15000, key: 'latest.vxl', ...options };
    if (bootstrapped) {
      this.#bootstrap = checkBootstrap(options.bootstrap);
      this.ready = Promise.resolve(this);
      // A failed upgrade is reported as an 'error' event and through `upgrade()`; the page
      // keeps its bootstrap values.
      if (sources.length === 1) afterFirstRender().then(() => this.upgrade()).catch(() => {});
      return;
    }
    if (options.bytes !== undefined) {
      this.#snapshot = Snapshot.decode(options.bytes, { publicKeys: options.publicKeys });
      this.ready = Promise.resolve(this);
    } else {
      this.ready = this.#load();
    }
    this.#goLive();
  }

  #load() {
    const loaded = this.refresh().then(() => {
      if (this.#snapshot === null) throw new SnapshotError('NOT_READY', 'no snapshot could be loaded');
      return this;
    });
    // A client nobody awaits must not crash the process with an unhandled rejection;
    // awaiting the promise still sees the failure.
    loaded.catch(() => {});
    return loaded;
  }

  #goLive() {
    if (this.#following) return;
    this.#following = true;
    const o = this.#options;
    if (o.live && o.url !== undefined) this.ready.then(() => this.#follow(), () => this.#follow());
    else if (o.live && o.kv !== undefined) this.#schedule();
  }

  /**
   * A bootstrapped client: loads its `url` or `kv` now rather than after the page has
   * rendered (and then follows it, with `live`). Resolves once a snapshot is held.
   */
  upgrade() {
    if (this.#bootstrap === null || (this.#options.url === undefined && this.#options.kv === undefined)) {
      return Promise.reject(new TypeError('upgrade() needs a client created with a bootstrap and a url or kv'));
    }
    if (this.#upgrade === null) {
      const attempt = this.#load();
      this.#upgrade = attempt;
      this.ready = attempt;
      // A failed attempt (network, a stale CDN copy older than the bootstrap) may be retried.
      attempt.catch(() => {
        if (this.#upgrade === attempt && this.#snapshot === null) this.#upgrade = null;
      });
      this.#goLive();
    }
    return this.#upgrade;
  }

  /** Whether the client still answers from its bootstrap (no snapshot yet). */
  get bootstrapped() {
    return this.#snapshot === null && this.#bootstrap !== null;
  }

  /** Whether updates arrive over the origin's event stream (false: polling, or not live). */
  get streaming() {
    return this.#stream !== null;
  }

  /** The current snapshot, or null before the first one arrives. */
  get snapshot() {
    return this.#snapshot;
  }

  /** The current version (the bootstrap's before the first snapshot; 0 with neither). */
  get version() {
    return this.#snapshot?.version ?? this.#bootstrap?.version ?? 0;
  }

  #require() {
    if (this.#snapshot === null) {
      const why = this.#bootstrap ? 'a bootstrap answers only for the page\'s own context (call without one)' : 'await client.ready';
      throw new SnapshotError('NOT_READY', `the client has no snapshot yet: ${why}`);
    }
    return this.#snapshot;
  }

  /** From the bootstrap: this page's own context, before any snapshot. */
  #fromBootstrap(flag) {
    const known = Object.hasOwn(this.#bootstrap.flags, flag);
    return { enabled: known && this.#bootstrap.flags[flag] === true, reason: known ? 'bootstrap' : 'not_found', version: this.#bootstrap.version };
  }

  /** Whether `flag` is on for `actor`, or for the client's `context` when none is given. */
  isEnabled(flag, actor) {
    if (actor === undefined) {
      if (this.bootstrapped) return this.#fromBootstrap(flag).enabled;
      if (this.#options.context !== undefined) return this.#require().evaluate(flag, this.#options.context).enabled;
    }
    return this.#require().isEnabled(flag, actor);
  }

  evaluate(flag, context) {
    if (context === undefined && this.bootstrapped) return this.#fromBootstrap(flag);
    return this.#require().evaluate(flag, context ?? this.#options.context);
  }

  evaluateAll(context) {
    if (context === undefined && this.bootstrapped) {
      return Object.fromEntries(Object.keys(this.#bootstrap.flags).map((f) => [f, this.#fromBootstrap(f)]));
    }
    return this.#require().evaluateAll(context ?? this.#options.context);
  }

  flags() {
    return this.#require().flags();
  }

  /**
   * Calls `callback(changed, decisions)` whenever an update changes a flag's result for
   * `context`; `changed` lists the flags. Returns a function that unsubscribes.
   */
  subscribe(context, callback) {
    const entry = { context, callback };
    this.#subscribers.add(entry);
    return () => this.#subscribers.delete(entry);
  }

  /** `on('update' | 'error', fn)`: a new snapshot was taken, or one was refused. */
  on(event, fn) {
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event).add(fn);
    return () => this.#listeners.get(event)?.delete(fn);
  }

  #emit(event, value) {
    for (const fn of this.#listeners.get(event) ?? []) fn(value);
  }

  /** Fetches the source once; resolves to true when a newer snapshot was taken. */
  async refresh() {
    let bytes;
    try {
      await runtimeLoaded();
      bytes = await this.#fetch();
    } catch (e) {
      this.#emit('error', e);
      return false;
    }
    if (bytes === null) return false;
    return this.offer(bytes);
  }

  /**
   * Takes `bytes` if they are a valid snapshot newer than the current one; otherwise keeps
   * the current one and emits 'error'. Returns whether it swapped.
   */
  offer(bytes) {
    let next;
    try {
      next = Snapshot.decode(bytes, { publicKeys: this.#options.publicKeys });
    } catch (e) {
      this.#emit('error', e);
      return false;
    }
    const current = this.#snapshot;
    const floor = this.#bootstrap?.version ?? 0;
    // A client follows one environment: a snapshot of another (a misconfigured URL, a KV
    // key shared by mistake) would switch every answer silently.
    const held = current?.environment ?? this.#bootstrap?.environment;
    if (held !== undefined && next.environment !== held) {
      this.#emit('error', new SnapshotError('WRONG_ENVIRONMENT', `refused a snapshot of ${next.environment}: this client follows ${held}`));
      next.free();
      return false;
    }
    if (current === null && next.version < floor) {
      this.#emit('error', new SnapshotError('OLDER_VERSION', `refused version ${next.version}: the page was bootstrapped from version ${floor}`));
      next.free();
      return false;
    }
    if (current !== null && next.version <= current.version) {
      if (next.version < current.version) {
        this.#emit('error', new SnapshotError('OLDER_VERSION', `refused version ${next.version}: version ${current.version} is newer (rollback protection)`));
      }
      next.free();
      return false;
    }
    // One draw for before and after, so percentage-of-time flags do not look changed.
    const random = Math.random();
    const now = Date.now();
    const contexts = [...this.#subscribers].map((s) => ({ random, now, ...(s.context ?? this.#options.context) }));
    const before = [...this.#subscribers].map((s, i) => {
      if (current) return current.evaluateAll(contexts[i]);
      // What the page showed: the bootstrap, for its own context.
      return this.#bootstrap && s.context === undefined ? this.evaluateAll() : null;
    });
    this.#snapshot = next;
    this.#emit('update', next);
    [...this.#subscribers].forEach((s, i) => {
      const after = next.evaluateAll(contexts[i]);
      const previous = before[i] ?? {};
      const changed = Object.keys({ ...previous, ...after }).filter((f) => previous[f]?.enabled !== after[f]?.enabled);
      if (changed.length > 0) s.callback(changed, after);
    });
    return true;
  }

  async #fetch() {
    const o = this.#options;
    if (o.kv !== undefined) {
      const data = await o.kv.get(o.key, 'arrayBuffer');
      if (data === null) throw new SnapshotError('NOT_FOUND', `KV has no ${o.key}`);
      return new Uint8Array(data);
    }
    const base = String(o.url).replace(/\/+$/, '');
    const headers = {};
    if (this.#etag) headers['If-None-Match'] = this.#etag;
    const res = await (o.fetch ?? fetch)(`${base}/latest.vxl`, { headers, cache: 'no-store' });
    if (res.status === 304) return null;
    if (!res.ok) throw new SnapshotError('FETCH_FAILED', `GET ${base}/latest.vxl: HTTP ${res.status}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    this.#etag = res.headers.get('ETag');
    return bytes;
  }

  /**
   * Follows `<url>/events`, reconnecting with Last-Event-ID after a drop; falls back to
   * polling when the origin answers with anything but an event stream.
   */
  async #follow() {
    const o = this.#options;
    const base = String(o.url).replace(/\/+$/, '');
    let backoff = 250;
    while (!this.#closed) {
      const abort = new AbortController();
      this.#stream = abort;
      let res;
      try {
        const headers = { Accept: 'text/event-stream' };
        // The snapshot held, not a bootstrap's version: a bootstrapped client still needs one.
        const held = this.#snapshot?.version ?? 0;
        if (held > 0) headers['Last-Event-ID'] = String(held);
        res = await (o.fetch ?? fetch)(`${base}/events`, { headers, signal: abort.signal, cache: 'no-store' });
      } catch (e) {
        this.#stream = null;
        if (this.#closed) return;
        this.#emit('error', new SnapshotError('FETCH_FAILED', `GET ${base}/events: ${e?.message ?? e}`));
        await sleep(backoff);
        backoff = Math.min(backoff * 2, o.pollInterval);
        continue;
      }
      if (!res.ok || !(res.headers.get('Content-Type') ?? '').startsWith('text/event-stream') || !res.body) {
        this.#stream = null;
        res.body?.cancel().catch(() => {});
        // A 5xx may be passing; anything else means this origin serves files, not streams.
        if (res.status >= 500) {
          await sleep(backoff);
          backoff = Math.min(backoff * 2, o.pollInterval);
          continue;
        }
        this.#schedule();
        return;
      }
      backoff = 250;
      try {
        for await (const event of serverSentEvents(res.body)) {
          if (event.type !== 'snapshot') continue;
          const { version } = JSON.parse(event.data);
          if (version > (this.#snapshot?.version ?? 0)) await this.#take(base, version);
        }
      } catch (e) {
        if (this.#closed) return;
        if (e?.name !== 'AbortError') this.#emit('error', new SnapshotError('FETCH_FAILED', `${base}/events: ${e?.message ?? e}`));
      }
      this.#stream = null;
      if (!this.#closed) await sleep(backoff);
    }
  }

  /** Fetches an announced version from its immutable URL (falling back to `latest.vxl`). */
  async #take(base, version) {
    try {
      const res = await (this.#options.fetch ?? fetch)(`${base}/v/${version}.vxl`);
      if (!res.ok) throw new SnapshotError('FETCH_FAILED', `GET ${base}/v/${version}.vxl: HTTP ${res.status}`);
      this.offer(new Uint8Array(await res.arrayBuffer()));
    } catch (e) {
      this.#emit('error', e);
      await this.refresh();
    }
  }

  #schedule() {
    if (this.#closed) return;
    this.#timer = setTimeout(async () => {
      await this.refresh();
      this.#schedule();
    }, this.#options.pollInterval);
  }

  /** Stops following updates (a live client keeps its stream or polling, and the process, alive until then). */
  close() {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#stream?.abort();
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The events of a `text/event-stream` body, as the HTML standard parses them: fields up to
 * a blank line, `data` lines joined, comments (heartbeats) skipped.
 */
async function* serverSentEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let event = { type: 'message', data: [], id: null };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.search(/\r\n|\r|\n/)) >= 0) {
        if (buffer[end] === '\r' && end === buffer.length - 1) break; // maybe half of \r\n
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + (buffer[end] === '\r' && buffer[end + 1] === '\n' ? 2 : 1));
        if (line === '') {
          if (event.data.length > 0) yield { type: event.type, data: event.data.join('\n'), id: event.id };
          event = { type: 'message', data: [], id: event.id };
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') event.data.push(value);
        else if (field === 'event') event.type = value;
        else if (field === 'id') event.id = value;
      }
    }
  } finally {
    reader.releaseLock();
  }
}
