// Cloudflare workerd (and other edge runtimes that import wasm as modules): workerd refuses
// to compile wasm from bytes, so the modules are imported and instantiated synchronously.
import coreModule from '../dist/vexil_bg.wasm';
import verifyModule from '../dist/verify_bg.wasm';
import { instantiateSync, instantiateVerifierSync } from './core.js';

instantiateSync(coreModule);

let verifierLoaded = false;

/** Instantiates the signature verifier (synchronous here). */
export function loadVerifier() {
  if (!verifierLoaded) {
    instantiateVerifierSync(verifyModule);
    verifierLoaded = true;
  }
  return Promise.resolve();
}

/** Always ready here; kept so code can be written once for every runtime. */
export async function ready({ verify: withVerifier = false } = {}) {
  if (withVerifier) await loadVerifier();
}

export * from './sdk.js';
