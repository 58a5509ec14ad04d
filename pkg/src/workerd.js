// Cloudflare workerd (and other edge runtimes that import wasm as modules): workerd refuses
// to compile wasm from bytes, so the modules are imported and instantiated synchronously.
import { initSync, RawSnapshot } from '../dist/vexil.js';
import * as host from '../dist/host.js';
import { initSync as initVerify, verify } from '../dist/verify.js';
import coreModule from '../dist/vexil_bg.wasm';
import verifyModule from '../dist/verify_bg.wasm';
import { bind } from './boundary.js';

const wasm = initSync({ module: coreModule });
bind({ wasm, RawSnapshot, host });

let verifierLoaded = false;

/** Instantiates the signature verifier (synchronous here). */
export function loadVerifier() {
  if (!verifierLoaded) {
    initVerify({ module: verifyModule });
    host.setVerifier(verify);
    verifierLoaded = true;
  }
  return Promise.resolve();
}

/** Always ready here; kept so code can be written once for every runtime. */
export async function ready({ verify: withVerifier = false } = {}) {
  if (withVerifier) await loadVerifier();
}

export * from './sdk.js';
