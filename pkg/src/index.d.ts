/** Why a flag is on or off. */
export type Reason =
  | 'boolean'
  | 'expression'
  | 'actor'
  | 'percentage_of_actors'
  | 'percentage_of_time'
  | 'group'
  | 'default'
  | 'off'
  | 'opt_out'
  | 'not_found'
  /** A bootstrapped client before its first snapshot: the edge's result for this page. */
  | 'bootstrap';

/** GitLab's flag types. */
export type FlagType = 'gitlab_com_derisk' | 'wip' | 'beta' | 'ops' | 'experiment' | 'worker' | 'undefined' | 'development';

/** A property value: Flipper expressions see strings, numbers, booleans, null (dates as ISO strings). */
export type PropertyValue = string | number | boolean | null | Date | Float;

/** A number to be read as a Ruby Float even when integral: see `asFloat`. */
export interface Float {
  readonly __vexilFloat: never;
}

/** An actor: its id (`User:42`), or the id with properties for expressions and feature groups. */
export type ActorInput = string | { id: string; properties?: Record<string, PropertyValue> };

export interface EvaluationContext {
  /** Usually one actor. Several follow Flipper ≥ 0.28 (one hash over the sorted ids). */
  actors?: ActorInput[];
  /** The draw in [0, 1) for percentage of time (default: Math.random()). */
  random?: number;
  /** The time for `Now` in expressions (default: Date.now()). */
  now?: number | Date;
}

export interface Decision {
  enabled: boolean;
  reason: Reason;
  /** The snapshot version the decision was made on. */
  version: number;
}

export interface FlagInfo {
  name: string;
  type: FlagType;
  defaultEnabled: boolean;
  clientSide: boolean;
  persisted: boolean;
  state: 'on' | 'conditional' | 'off';
}

export type SnapshotErrorCode =
  | 'BAD_MAGIC'
  | 'VERSION_MISMATCH'
  | 'TRUNCATED'
  | 'MALFORMED'
  | 'TOO_LARGE'
  | 'UNSIGNED'
  | 'UNTRUSTED_KEY'
  | 'BAD_SIGNATURE'
  | 'VERIFIER_NOT_LOADED'
  | 'OLDER_VERSION'
  | 'WRONG_ENVIRONMENT'
  | 'WRONG_AUDIENCE'
  | 'EXPIRED'
  | 'ROLLBACK'
  | 'NO_FRESHNESS'
  | 'TIMEOUT'
  | 'NOT_READY'
  | 'NOT_FOUND'
  | 'FETCH_FAILED'
  | 'INVALID_CONTEXT';

export class SnapshotError extends Error {
  readonly code: SnapshotErrorCode;
  /** Where in the bytes decoding stopped, for decode errors. */
  readonly offset: number;
}

export interface DecodeOptions {
  /** Trusted ed25519 public keys (base64 or 32 bytes). Given: the snapshot must be signed by one. */
  publicKeys?: Array<string | Uint8Array>;
  /** The environment the snapshot must be of (WRONG_ENVIRONMENT otherwise); required by clients with `publicKeys`. */
  environment?: string;
  /**
   * The audience the snapshot must be for (WRONG_AUDIENCE otherwise); required by clients with
   * `publicKeys`. A bootstrapped browser client with 'browser' that initialises vexil itself
   * loads the browser-snapshot module, as `ready({ audience: 'browser' })` does.
   */
  audience?: 'server' | 'browser';
}

/** What a freshness statement says (`snapshot.checkFreshness`). */
export interface Vouched {
  /** The newest version when it was issued. */
  version: number;
  /** Until when it vouches (ms since the epoch). */
  expiresAt: number;
}

export class Snapshot {
  /** Decodes synchronously; throws SnapshotError on bad, unsigned-when-keys-given or forged input. */
  static decode(bytes: Uint8Array | ArrayBuffer | ArrayBufferView, options?: DecodeOptions): Snapshot;
  readonly version: number;
  readonly environment: string;
  readonly publishedAt: number;
  readonly audience: 'server' | 'browser';
  /** The signer's public key, or null if unsigned. */
  readonly signer: Uint8Array | null;
  has(flag: string): boolean;
  /** Whether `flag` is on for `actor` (an id such as "User:42"), or with no actor. */
  isEnabled(flag: string, actor?: string): boolean;
  evaluate(flag: string, context?: EvaluationContext): Decision;
  evaluateAll(context?: EvaluationContext): Record<string, Decision>;
  flags(): FlagInfo[];
  /**
   * Every client-side flag's result for `context`, for a page to start from (see
   * `bootstrapScript`). Reveals results only: no ids, gates or server-only flag names.
   */
  bootstrap(context?: EvaluationContext): Bootstrap;
  /**
   * Checks the origin's freshness statement (`freshness.vxf`) against this snapshot: same
   * environment and audience, not expired (EXPIRED), no newer version named (ROLLBACK).
   */
  checkFreshness(statement: Uint8Array | ArrayBuffer, options?: { publicKeys?: Array<string | Uint8Array>; now?: number }): Vouched;
  /** Frees the wasm memory now (it is also freed on garbage collection). */
  free(): void;
}

/** What an edge worker or server computed for one page: `snapshot.bootstrap(context)`. */
export interface Bootstrap {
  environment: string;
  version: number;
  flags: Record<string, boolean>;
}

/** `bootstrap` as a `<script type="application/json">` element for the page's HTML, safely escaped. */
export function bootstrapScript(bootstrap: Bootstrap, options?: { nonce?: string }): string;

/** The bootstrap `bootstrapScript` put into this page, or null. */
export function readBootstrap(doc?: Document): Bootstrap | null;

/**
 * Pages: answers from what the edge computed for this page, as `vexil/bootstrap` does; a
 * page that imports nothing else ships only this (tree-shaken), and `upgrade()` loads the rest.
 */
export { createBootstrapClient, type BootstrapClient } from './bootstrap-entry.js';

/** A Workers KV namespace, or anything with the same `get`. */
export interface KvLike {
  get(key: string, type: 'arrayBuffer'): Promise<ArrayBuffer | null>;
}

export interface ClientOptions extends DecodeOptions {
  /** The environment's base URL: `<url>/latest.vxl` is fetched. */
  url?: string;
  /** Snapshot bytes: the client is ready at once (e.g. inlined into a server-rendered page). */
  bytes?: Uint8Array | ArrayBuffer;
  /** A KV binding holding the snapshot under `key` (default 'latest.vxl'). */
  kv?: KvLike;
  key?: string;
  /**
   * Follow updates: over `<url>/events` where the origin offers it (`vexil serve`),
   * reconnecting with Last-Event-ID; otherwise by polling `latest.vxl` with ETags.
   */
  live?: boolean;
  /** Milliseconds between polls, and the longest wait between reconnects (default 15000). */
  pollInterval?: number;
  /** A live stream silent this long (ms; default 45000, three server heartbeats) is taken
   * for half-open and replaced. */
  idleTimeout?: number;
  fetch?: typeof fetch;
  /**
   * Start from what the edge computed for this page: answers at once, without wasm or
   * network, for the page's own context. A `url` or `kv` given too is loaded after the
   * page has rendered (or on `upgrade()`); snapshots older than the bootstrap are refused.
   */
  bootstrap?: Bootstrap;
  /** The context calls without one evaluate for (the page's user, as the bootstrap was computed). */
  context?: EvaluationContext;
  /**
   * Called with every evaluation the client makes (`isEnabled`, `evaluate`, each flag of
   * `evaluateAll`): label your own metrics by flag state, for rollout guards to compare.
   */
  onEvaluation?: (evaluation: Evaluation) => void;
  /**
   * With `publicKeys`, a `url` or `kv` client takes a snapshot only when the origin's
   * freshness statement vouches for it (rollback, freeze and mix-and-match protection).
   * `false` goes without; with `bytes`, the statement's bytes, if the page has them.
   */
  freshness?: boolean | Uint8Array;
  /** KV key of the freshness statement (default 'freshness.vxf'). */
  freshnessKey?: string;
  /** Where the newest version taken is remembered (default localStorage where there is one; null: nowhere). */
  storage?: { getItem(key: string): string | null; setItem(key: string, value: string): void } | null;
  /** Longest a fetch (answer and body) may take, ms (default 30000). */
  fetchTimeout?: number;
}

/** One evaluation, as `onEvaluation` and the OpenFeature `evaluationHook` report it. */
export interface Evaluation {
  flag: string;
  enabled: boolean;
  reason: string;
  version?: number;
  /** For the OpenFeature hook, when resolution failed. */
  error?: string;
}

export interface Client {
  /** Resolves once a snapshot is held; rejects if none could be loaded. */
  readonly ready: Promise<Client>;
  readonly snapshot: Snapshot | null;
  readonly version: number;
  /** Whether updates currently arrive over the origin's event stream. */
  readonly streaming: boolean;
  /** Whether answers still come from the bootstrap (no snapshot yet). */
  readonly bootstrapped: boolean;
  /** Whether the snapshot held is no longer vouched for (its freshness statement expired). */
  readonly stale: boolean;
  /** A bootstrapped client: load the snapshot now instead of after the first render. */
  upgrade(): Promise<Client>;
  isEnabled(flag: string, actor?: string): boolean;
  evaluate(flag: string, context?: EvaluationContext): Decision;
  evaluateAll(context?: EvaluationContext): Record<string, Decision>;
  flags(): FlagInfo[];
  /** Calls back with the flags whose result changed for `context`; returns an unsubscribe function. */
  subscribe(context: EvaluationContext | undefined, callback: (changed: string[], decisions: Record<string, Decision>) => void): () => void;
  on(event: 'update', listener: (snapshot: Snapshot) => void): () => void;
  on(event: 'error', listener: (error: Error) => void): () => void;
  /** Fetches once; resolves to whether a newer snapshot was taken. */
  refresh(): Promise<boolean>;
  /** Takes bytes if they are a valid, newer snapshot; returns whether it did. */
  offer(bytes: Uint8Array | ArrayBuffer, statement?: Uint8Array | null): boolean;
  /** The origin announced `version`: fetch it from `<url>/v/<version>.vxl` if it is newer. */
  announce(version: number): Promise<void>;
  close(): void;
}

export function createClient(options: ClientOptions): Client;

/**
 * Follows every environment of one origin (`vexil serve`) on its single `/events` stream,
 * feeding each announcement to that environment's client; at each connect each refreshes.
 */
export function followEnvironments(
  url: string,
  clients: Map<string, Client>,
  options?: { fetch?: typeof fetch; onLive?: (live: boolean) => void; maxBackoff?: number },
): { close(): void };

/**
 * Browsers: initialise once (`verify: true` also loads the signature verifier). `module` is
 * where the core's wasm comes from when a bundler moved it: a URL, a fetch Request or
 * Response, its bytes, or a compiled module (default: `../dist/vexil_bg.wasm` next to this
 * file, or `../dist/vexil_browser_bg.wasm` with `audience: 'browser'`). Elsewhere: resolves
 * at once.
 */
export function ready(options?: {
  verify?: boolean;
  /**
   * 'browser' loads the smaller module that reads browser snapshots only (a full snapshot is
   * then refused with WRONG_AUDIENCE); 'server' (the default) reads both.
   */
  audience?: 'server' | 'browser';
  module?: WasmSource;
  /** Where the verifier's wasm comes from, as `module` (default: `../dist/verify_bg.wasm`). */
  verifier?: WasmSource;
}): Promise<void>;

/** Where a wasm module comes from, when a bundler moved it. */
export type WasmSource = WebAssembly.Module | URL | string | Request | Response | Promise<Response> | BufferSource;

/**
 * Loads the ed25519 verifier needed for `publicKeys` (a separate download in browsers, from
 * `source` when a bundler moved it; elsewhere `source` is not needed).
 */
export function loadVerifier(source?: WasmSource): Promise<void>;

/** Marks a number as a Ruby Float for expressions (`1` and `1.0` differ there). */
export function asFloat(value: number): Float;

/** OpenFeature's reason for a vexil reason. */
export function openFeatureReason(reason: Reason): 'STATIC' | 'DEFAULT' | 'DISABLED' | 'TARGETING_MATCH' | 'SPLIT' | 'CACHED' | 'ERROR';
