// Browsers: the wasm is fetched and compiled asynchronously once — `await ready()` — and
// every call after that is synchronous. The signature verifier is a separate download,
// fetched only by `ready({ verify: true })` or `loadVerifier()`.
import init, { RawSnapshot } from '../dist/vexil.js';
import * as host from '../dist/host.js';
import { bind } from './boundary.js';

let initialised = null;
let verifier = null;

/** Loads the signature verifier (a separate, smaller download). */
export function loadVerifier() {
  if (verifier === null) {
    verifier = import('../dist/verify.js').then(async (v) => {
      await v.default();
      host.setVerifier(v.verify);
    });
  }
  return verifier;
}

/** Initialises vexil once; `verify: true` also loads the signature verifier. */
export function ready({ verify = false, module } = {}) {
  if (initialised === null) {
    initialised = init(module ? { module_or_path: module } : undefined).then((wasm) => bind({ wasm, RawSnapshot, host }));
  }
  return verify ? Promise.all([initialised, loadVerifier()]).then(() => undefined) : initialised;
}

// A client created before `ready()` (a bootstrapped page) initialises vexil itself.
bind(null, { load: () => ready() });

export * from './sdk.js';
