// Browsers: the wasm is fetched and compiled asynchronously once — `await ready()` — and
// every call after that is synchronous. The signature verifier is a separate download,
// fetched only by `ready({ verify: true })` or `loadVerifier()`.
import { bind } from './boundary.js';
import { instantiate, instantiateVerifier } from './core.js';
import { createClient as create } from './client.js';

let initialised = null;
// Whether `initialised` is the module that reads browser snapshots only.
let browserOnly = false;
let verifier = null;

/**
 * Loads the signature verifier (a separate, smaller download), from `source` when a
 * bundler moved it (what `ready({ module })` takes).
 */
export function loadVerifier(source) {
  if (verifier === null) {
    verifier = instantiateVerifier(source ?? new URL('../dist/verify_bg.wasm', import.meta.url));
  }
  return verifier;
}

/**
 * Initialises vexil once, from `module` when a bundler moved the wasm; `verify: true` also
 * loads the signature verifier (from `verifier`, likewise). `audience: 'browser'` loads the
 * smaller module that reads browser snapshots only, for pages that read nothing else.
 */
export function ready({ verify = false, audience, module, verifier: verifierSource } = {}) {
  if (initialised === null) {
    browserOnly = audience === 'browser';
    // Two literal URLs, so that bundlers see and copy both files.
    initialised = instantiate(module ?? (browserOnly ? new URL('../dist/vexil_browser_bg.wasm', import.meta.url) : new URL('../dist/vexil_bg.wasm', import.meta.url)));
  } else if (browserOnly && audience !== 'browser') {
    // Snapshots decoded already live in that module's memory: one module per page.
    return Promise.reject(new TypeError("vexil was initialised by ready({ audience: 'browser' }), for browser snapshots only: on a page that also reads full snapshots, call ready() first"));
  }
  return verify ? Promise.all([initialised, loadVerifier(verifierSource)]).then(() => undefined) : initialised;
}

export * from './sdk.js';

/**
 * `createClient` of every entry; here it also lets a client created before `ready()` (a
 * bootstrapped page) initialise vexil itself: with whichever module the page chose if it
 * did, else the browser-snapshot module for a client with `audience: 'browser'`. Registered
 * by the call, not on import: an import with a side effect could not be tree-shaken, and a
 * page that only reads its bootstrap (`createBootstrapClient`) would ship the client.
 */
export function createClient(options = {}) {
  bind(null, { load: () => initialised ?? ready({ audience: options.audience }) });
  return create(options);
}
