// A client: holds the current snapshot of one environment and follows updates — the
// origin's event stream where there is one, ETag polling of `latest.vxl` elsewhere — keeping
// the last good snapshot when a new one is bad, forged, older, or of another environment.
import { runtimeLoaded, SnapshotError } from './boundary.js';
import { afterFirstRender, checkBootstrap } from './bootstrap.js';
import { Snapshot } from './snapshot.js';
import { followStream } from './sse.js';
import { baseOf, defaultStorage, FRESHNESS, snapshotBody, timedOut } from './origin.js';
import { MAX_FRESHNESS_BYTES } from './tables.js';

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
 *
 * With `publicKeys`, `environment` and `audience` ('server' or 'browser') are required: a
 * signature says who published a snapshot, not which environment's it is or for whom. A
 * `url` or `kv` client then also takes a snapshot only when the origin's freshness
 * statement (`freshness.vxf`, re-issued by the publisher) vouches for it: not expired, and
 * naming no newer version — so an origin replaying an old state, frozen, or serving another
 * environment's is refused (`freshness: false` turns this off, accepting those risks). The
 * newest version taken is remembered in `storage` (localStorage in browsers; anything with
 * getItem/setItem), so a reload never steps back either.
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
  #vouchedUntil = Infinity;
  #renewal = null;
  /** The newest version a freshness statement named that this client does not hold. */
  #behind = 0;
  #storage = null;
  #highWater = 0;
  #requireFreshness = false;

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
    this.#options = { pollInterval: 15000, fetchTimeout: 30000, key: 'latest.vxl', freshnessKey: FRESHNESS, ...options };
    const signed = (options.publicKeys?.length ?? 0) > 0;
    if (signed && (typeof options.environment !== 'string' || !['server', 'browser'].includes(options.audience))) {
      throw new TypeError(
        "createClient with publicKeys needs environment and audience ('server' or 'browser'): a signature does not say whose snapshot it is",
      );
    }
    if (options.freshness instanceof Uint8Array && options.bytes === undefined) {
      throw new TypeError('a freshness statement as bytes goes with bytes; url and kv clients fetch theirs');
    }
    // Network sources need the origin's word that what they serve is the newest; bytes a
    // server inlined come with its statement only if it passes one.
    this.#requireFreshness = signed && options.bytes === undefined && options.freshness !== false;
    if (signed) {
      this.#storage = options.storage === undefined ? defaultStorage() : options.storage;
      this.#highWater = Number(this.#read(this.#waterKey())) || 0;
    }
    if (bootstrapped) {
      this.#bootstrap = checkBootstrap(options.bootstrap);
      this.ready = Promise.resolve(this);
      // A failed upgrade is reported as an 'error' event and through `upgrade()`; the page
      // keeps its bootstrap values.
      if (sources.length === 1) afterFirstRender().then(() => this.upgrade()).catch(() => {});
      return;
    }
    if (options.bytes !== undefined) {
      const snapshot = Snapshot.decode(options.bytes, this.#decodeOptions());
      if (options.freshness instanceof Uint8Array) {
        this.#vouchedUntil = snapshot.checkFreshness(options.freshness, { publicKeys: options.publicKeys }).expiresAt;
      }
      if (snapshot.version < this.#highWater) {
        snapshot.free();
        throw this.#rollback(snapshot.version);
      }
      this.#snapshot = snapshot;
      this.#remember(snapshot.version);
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

  /**
   * GET `url` within `fetchTimeout` (default 30 s) for the answer and its whole body: an
   * origin trickling bytes (TUF's slow-retrieval attack) cannot hold a load for ever.
   */
  async #get(url, init = {}) {
    const signal = AbortSignal.timeout(this.#options.fetchTimeout);
    try {
      return await (this.#options.fetch ?? fetch)(url, { ...init, signal });
    } catch (e) {
      throw timedOut(e, `GET ${url}`) ?? e;
    }
  }

  #decodeOptions() {
    const { publicKeys, environment, audience } = this.#options;
    return { publicKeys, environment, audience };
  }

  #waterKey() {
    return `vexil:${this.#options.environment}:${this.#options.audience}:version`;
  }

  #read(key) {
    try {
      return this.#storage?.getItem(key) ?? null;
    } catch {
      return null;
    }
  }

  /** Raises the high-water mark: no version below it is taken again, after a reload too. */
  #remember(version) {
    if (this.#storage === null || version <= this.#highWater) return;
    this.#highWater = version;
    try {
      this.#storage.setItem(this.#waterKey(), String(version));
    } catch {
      // Storage full or denied: the mark still holds for this client's life.
    }
  }

  #rollback(version) {
    return new SnapshotError('ROLLBACK', `refused version ${version}: this client already took version ${this.#highWater} (rollback protection)`);
  }

  /**
   * Whether the snapshot held is no longer vouched for: its freshness statement expired and
   * no newer one arrived (the origin may be frozen). It still answers; 'error' events say why.
   */
  get stale() {
    return this.#requireFreshness && this.#snapshot !== null && Date.now() > this.#vouchedUntil;
  }

  /**
   * Checks `statement` against `snapshot`; on success extends how long the held snapshot is
   * vouched for. Returns the error, or null. A statement naming a newer version is noted in
   * `#behind` for the caller to fetch.
   */
  #vouch(snapshot, statement) {
    try {
      const { expiresAt } = snapshot.checkFreshness(statement, { publicKeys: this.#options.publicKeys });
      if (snapshot.version >= (this.#snapshot?.version ?? 0)) {
        this.#vouchedUntil = expiresAt;
        this.#scheduleRenewal();
      }
      return null;
    } catch (e) {
      if (e.code === 'ROLLBACK') this.#behind = Math.max(this.#behind, e.version);
      e.message = `${FRESHNESS}: ${e.message}`;
      return e;
    }
  }

  /**
   * A live client re-reads the statement half-way to its expiry, so a quiet environment on
   * an event stream (no new versions, no polling) stays vouched for, and a frozen origin is
   * noticed.
   */
  #scheduleRenewal() {
    if (!this.#options.live || this.#closed || this.#options.url === undefined && this.#options.kv === undefined) return;
    clearTimeout(this.#renewal);
    const wait = Math.min(Math.max(this.#options.pollInterval, (this.#vouchedUntil - Date.now()) / 2), 2 ** 31 - 1);
    this.#renewal = setTimeout(async () => {
      try {
        const statement = await this.#fetchStatement();
        const error = this.#snapshot ? this.#vouch(this.#snapshot, statement) : null;
        if (error) this.#emit('error', error);
        if (this.#behind > (this.#snapshot?.version ?? 0)) await this.#takeVersion(this.#behind).catch((e) => this.#emit('error', e));
      } catch (e) {
        this.#emit('error', e);
        this.#scheduleRenewal();
      }
    }, wait);
  }

  /**
   * Fetches the source once; resolves to true when a newer snapshot was taken. Where the
   * freshness statement names a newer version than `latest.vxl` holds (a CDN's stale copy,
   * or a replay), that version is fetched.
   */
  async refresh() {
    let got;
    try {
      await runtimeLoaded();
      got = await this.#fetch();
    } catch (e) {
      this.#emit('error', e);
      return false;
    }
    let taken = false;
    if (got.bytes !== null) taken = this.offer(got.bytes, got.statement);
    else if (got.statement !== null && this.#snapshot !== null) {
      const error = this.#vouch(this.#snapshot, got.statement);
      if (error) this.#emit('error', error);
    }
    if (!taken && this.#behind > (this.#snapshot?.version ?? 0) && this.#options.url !== undefined) {
      try {
        taken = await this.#takeVersion(this.#behind);
      } catch (e) {
        this.#emit('error', e);
      }
    }
    return taken;
  }

  /**
   * Takes `bytes` if they are a valid snapshot newer than the current one; otherwise keeps
   * the current one and emits 'error'. Returns whether it swapped. A client that requires
   * freshness needs the origin's `statement` (the bytes of its `freshness.vxf`) with them.
   */
  offer(bytes, statement = null) {
    let next;
    try {
      next = Snapshot.decode(bytes, this.#decodeOptions());
    } catch (e) {
      this.#emit('error', e);
      return false;
    }
    if (this.#requireFreshness) {
      const error =
        statement === null
          ? new SnapshotError('NO_FRESHNESS', `refused version ${next.version}: no freshness statement (${FRESHNESS}) vouches for it`)
          : this.#vouch(next, statement);
      if (error) {
        this.#emit('error', error);
        next.free();
        return false;
      }
    }
    if (next.version < this.#highWater) {
      this.#emit('error', this.#rollback(next.version));
      next.free();
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
    this.#remember(next.version);
    this.#emit('update', next);
    [...this.#subscribers].forEach((s, i) => {
      const after = next.evaluateAll(contexts[i]);
      const previous = before[i] ?? {};
      const changed = Object.keys({ ...previous, ...after }).filter((f) => previous[f]?.enabled !== after[f]?.enabled);
      if (changed.length > 0) s.callback(changed, after);
    });
    return true;
  }

  /** The source's newest snapshot (null: unchanged since the last fetch) and statement. */
  async #fetch() {
    const o = this.#options;
    const statement = this.#requireFreshness ? this.#fetchStatement() : Promise.resolve(null);
    // Awaited below; until then a failure must not count as unhandled.
    statement.catch(() => {});
    if (o.kv !== undefined) {
      const data = await o.kv.get(o.key, 'arrayBuffer');
      if (data === null) throw new SnapshotError('NOT_FOUND', `KV has no ${o.key}`);
      return { bytes: new Uint8Array(data), statement: await statement };
    }
    const base = baseOf(o.url);
    const headers = {};
    if (this.#etag) headers['If-None-Match'] = this.#etag;
    const res = await this.#get(`${base}/latest.vxl`, { headers, cache: 'no-store' });
    if (res.status === 304) return { bytes: null, statement: await statement };
    if (!res.ok) throw new SnapshotError('FETCH_FAILED', `GET ${base}/latest.vxl: HTTP ${res.status}`);
    const bytes = await snapshotBody(res, `GET ${base}/latest.vxl`);
    this.#etag = res.headers.get('ETag');
    return { bytes, statement: await statement };
  }

  async #fetchStatement() {
    const o = this.#options;
    if (o.kv !== undefined) {
      const data = await o.kv.get(o.freshnessKey, 'arrayBuffer');
      if (data === null) throw new SnapshotError('NO_FRESHNESS', `KV has no ${o.freshnessKey} (the publisher writes it next to latest.vxl)`);
      return new Uint8Array(data);
    }
    const url = `${baseOf(o.url)}/${FRESHNESS}`;
    const res = await this.#get(url, { cache: 'no-store' });
    if (!res.ok) {
      res.body?.cancel().catch(() => {});
      throw new SnapshotError('NO_FRESHNESS', `GET ${url}: HTTP ${res.status} (no freshness statement; \`freshness: false\` goes without)`);
    }
    return snapshotBody(res, `GET ${url}`, MAX_FRESHNESS_BYTES);
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
    try {
      await this.#takeVersion(version);
    } catch (e) {
      this.#emit('error', e);
      await this.refresh();
    }
  }

  /** Fetches immutable version `version` (and the statement vouching for it) and offers it. */
  async #takeVersion(version) {
    const base = baseOf(this.#options.url);
    const statement = this.#requireFreshness ? this.#fetchStatement() : Promise.resolve(null);
    statement.catch(() => {});
    const res = await this.#get(`${base}/v/${version}.vxl`);
    if (!res.ok) {
      throw new SnapshotError('FETCH_FAILED', `GET ${base}/v/${version}.vxl: HTTP ${res.status}`);
    }
    const bytes = await snapshotBody(res, `GET ${base}/v/${version}.vxl`);
    return this.offer(bytes, await statement);
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
    clearTimeout(this.#renewal);
    this.#stream?.abort();
  }
}
