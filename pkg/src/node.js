// Node, Deno and Bun: the wasm is instantiated synchronously from the file next to this
// package (Node 20 cannot `import` wasm without a flag), so the API is usable on import.
import { readFileSync } from 'node:fs';
import { initSync, RawSnapshot } from '../dist/vexil.js';
import * as host from '../dist/host.js';
import { bind } from './boundary.js';

const wasm = initSync({ module: readFileSync(new URL('../dist/vexil_bg.wasm', import.meta.url)) });
bind({ wasm, RawSnapshot, host });

let verifier = null;

/** Loads the signature verifier (synchronous here; browsers await it). */
export function loadVerifier() {
  if (verifier === null) {
    // Imported lazily so processes that never check signatures never load it.
    verifier = import('../dist/verify.js').then((v) => {
      v.initSync({ module: readFileSync(new URL('../dist/verify_bg.wasm', import.meta.url)) });
      host.setVerifier(v.verify);
    });
  }
  return verifier;
}

/** Always ready here; kept so code can be written once for every runtime. */
export async function ready({ verify = false } = {}) {
  if (verify) await loadVerifier();
}

export * from './sdk.js';
