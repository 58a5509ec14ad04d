// A client: holds the current snapshot of one environment and follows updates — the
// origin's event stream where there is one, ETag polling of `latest.vxl` elsewhere — keeping
// the last good snapshot when a new one is bad, forged, older, or of another environment.
import { runtimeLoaded, SnapshotError } from './boundary.js';
import { afterFirstRender, checkBootstrap } from './bootstrap.js';
import { Snapshot } from './snapshot.js';
import { followStream } from './sse.js';
import { MAX_SNAPSHOT_BYTES } from './tables.js';

/**
 * A response's body, read no further than the core would decode: an origin sending more
 * (or declaring more) is refused before it fills the page's memory.
 */
async function snapshotBody(res, what) {
  const declared = Number(res.headers.get('Content-Length') ?? 0);
  if (declared > MAX_SNAPSHOT_BYTES || !res.body) {
    res.body?.cancel().catch(() => {});
    if (!res.body) return new Uint8Array(await res.arrayBuffer());
    throw new SnapshotError('FETCH_FAILED', `${what}: ${declared} bytes, more than a snapshot may hold (${MAX_SNAPSHOT_BYTES})`);
  }
  const reader = res.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > MAX_SNAPSHOT_BYTES) {
      reader.cancel().catch(() => {});
      throw new SnapshotError('FETCH_FAILED', `${what}: more than a snapshot may hold (${MAX_SNAPSHOT_BYTES} bytes)`);
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

  /**
   * Reports a decision to the `onEvaluation` option (flag, result, reason, version), so an
   * application can label its own metrics by flag state; a throwing callback is reported
   * as an 'error' event, never to the caller.
   */
  #observe(flag, decision) {
    try {
      this.#options.onEvaluation({ flag, enabled: decision.enabled, reason: decision.reason, version: decision.version });
    } catch (e) {
      this.#emit('error', e);
    }
    return decision;
  }

  /** Whether `flag` is on for `actor`, or for the client's `context` when none is given. */
  isEnabled(flag, actor) {
    // Observed evaluations need the reason, which the fast path does not compute.
    if (this.#options.onEvaluation) return this.evaluate(flag, actor === undefined ? undefined : { actors: [actor] }).enabled;
    if (actor === undefined) {
      if (this.bootstrapped) return this.#fromBootstrap(flag).enabled;
      if (this.#options.context !== undefined) return this.#require().evaluate(flag, this.#options.context).enabled;
    }
    return this.#require().isEnabled(flag, actor);
  }

  evaluate(flag, context) {
    const d = context === undefined && this.bootstrapped ? this.#fromBootstrap(flag) : this.#require().evaluate(flag, context ?? this.#options.context);
    return this.#options.onEvaluation ? this.#observe(flag, d) : d;
  }

  evaluateAll(context) {
    const all =
      context === undefined && this.bootstrapped
        ? Object.fromEntries(Object.keys(this.#bootstrap.flags).map((f) => [f, this.#fromBootstrap(f)]))
        : this.#require().evaluateAll(context ?? this.#options.context);
    if (this.#options.onEvaluation) for (const [flag, d] of Object.entries(all)) this.#observe(flag, d);
    return all;
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
    const base = baseOf(o.url);
    const headers = {};
    if (this.#etag) headers['If-None-Match'] = this.#etag;
    const res = await (o.fetch ?? fetch)(`${base}/latest.vxl`, { headers, cache: 'no-store' });
    if (res.status === 304) return null;
    if (!res.ok) throw new SnapshotError('FETCH_FAILED', `GET ${base}/latest.vxl: HTTP ${res.status}`);
    const bytes = await snapshotBody(res, `GET ${base}/latest.vxl`);
    this.#etag = res.headers.get('ETag');
    return bytes;
  }

  /**
   * Follows `<url>/events`, reconnecting with Last-Event-ID after a drop; falls back to
   * polling when the origin answers with anything but an event stream.
   */
  async #follow() {
    const o = this.#options;
    const outcome = await followStream(`${baseOf(o.url)}/events`, {
      fetch: o.fetch ?? fetch,
      // The snapshot held, not a bootstrap's version: a bootstrapped client still needs one.
      headers: () => (this.#snapshot ? { 'Last-Event-ID': String(this.#snapshot.version) } : {}),
      connecting: (abort) => {
        this.#stream = abort;
      },
      closed: () => this.#closed,
      onEvent: async (event) => {
        if (event.type === 'snapshot') await this.announce(JSON.parse(event.data).version);
      },
      onError: (e) => this.#emit('error', e),
      maxBackoff: o.pollInterval,
      idleTimeout: o.idleTimeout,
    });
    if (outcome === 'not-a-stream') this.#schedule();
  }

  /**
   * An origin announced `version` (its event stream, or one shared by several clients):
   * fetches that immutable version if it is newer than the snapshot held, falling back to
   * `latest.vxl`.
   */
  async announce(version) {
    if (!(version > (this.#snapshot?.version ?? 0))) return;
    const base = baseOf(this.#options.url);
    try {
      const res = await (this.#options.fetch ?? fetch)(`${base}/v/${version}.vxl`);
      if (!res.ok) throw new SnapshotError('FETCH_FAILED', `GET ${base}/v/${version}.vxl: HTTP ${res.status}`);
      this.offer(await snapshotBody(res, `GET ${base}/v/${version}.vxl`));
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

function baseOf(url) {
  return String(url).replace(/\/+$/, '');
}

/**
 * Follows every environment of one origin on its `/events` stream — one connection, where a
 * browser holds at most six per origin — and hands each announcement to the client of its
 * environment (`clients`: environment → client created with that environment's `url`).
 * The stream has no ids: on every connect each client refreshes (ETags make that cheap), so
 * nothing committed while it was not connected is missed. `onLive(true | false)`
 * reports whether the stream is connected. Returns `{ close() }`.
 */
export function followEnvironments(url, clients, { fetch: fetchFn, onLive, maxBackoff = 15000 } = {}) {
  let closed = false;
  let stream = null;
  followStream(`${baseOf(url)}/events`, {
    fetch: fetchFn ?? fetch,
    headers: () => ({}),
    connecting: (abort) => {
      stream = abort;
      if (abort === null) onLive?.(false);
    },
    closed: () => closed,
    onOpen: () => {
      onLive?.(true);
      for (const client of clients.values()) client.refresh();
    },
    onEvent: async (event) => {
      if (event.type !== 'snapshot') return;
      const { environment, version } = JSON.parse(event.data);
      await clients.get(environment)?.announce(version);
    },
    onError: () => onLive?.(false),
    maxBackoff,
  });
  return {
    close() {
      closed = true;
      stream?.abort();
    },
  };
}

