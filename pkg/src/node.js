// Node, Deno and Bun: the wasm is instantiated synchronously from the file next to this
// package (Node 20 cannot `import` wasm without a flag), so the API is usable on import.
import { readFileSync } from 'node:fs';
import { instantiateSync, instantiateVerifierSync } from './core.js';

instantiateSync(new WebAssembly.Module(readFileSync(new URL('../dist/vexil_bg.wasm', import.meta.url))));

let verifier = null;

/** Loads the signature verifier (synchronous here; browsers await it). */
export function loadVerifier() {
  if (verifier === null) {
    // Compiled on first use, so processes that never check signatures never compile it.
    verifier = Promise.resolve().then(() => instantiateVerifierSync(new WebAssembly.Module(readFileSync(new URL('../dist/verify_bg.wasm', import.meta.url)))));
  }
  return verifier;
}

/** Always ready here; kept so code can be written once for every runtime. */
export async function ready({ verify = false } = {}) {
  if (verify) await loadVerifier();
}

export * from './sdk.js';
