// Browsers: the wasm is fetched and compiled asynchronously once — `await ready()` — and
// every call after that is synchronous. The signature verifier is a separate download,
// fetched only by `ready({ verify: true })` or `loadVerifier()`.
import { bind } from './boundary.js';
import { instantiate, instantiateVerifier } from './core.js';

let initialised = null;
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
 * loads the signature verifier (from `verifier`, likewise).
 */
export function ready({ verify = false, module, verifier: verifierSource } = {}) {
  if (initialised === null) {
    initialised = instantiate(module ?? new URL('../dist/vexil_bg.wasm', import.meta.url));
  }
  return verify ? Promise.all([initialised, loadVerifier(verifierSource)]).then(() => undefined) : initialised;
}

// A client created before `ready()` (a bootstrapped page) initialises vexil itself.
bind(null, { load: () => ready() });

export * from './sdk.js';
