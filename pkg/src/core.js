// Instantiating the two wasm modules, for each way a runtime gets them: compiled already
// (workerd imports them as modules; Node compiles the files next to this package), or
// fetched (browsers). Neither has generated glue: the core's exports are functions of
// numbers (crates/vexil-wasm/src/abi.rs) that boundary.js and snapshot.js call directly,
// and the verifier's are two (crates/vexil-verify/src/lib.rs), wrapped here.
import { bind, memory } from './boundary.js';
import { hostImports, setVerifier } from './host.js';

const imports = hostImports(memory);

function exportsSync(module, imports) {
  return new WebAssembly.Instance(module, imports).exports;
}

async function exportsOf(source, imports) {
  if (source instanceof WebAssembly.Module) return exportsSync(source, imports);
  if (typeof source === 'string' || source instanceof URL || (typeof Request === 'function' && source instanceof Request)) source = fetch(source);
  source = await source;
  let from = 'the bytes given';
  if (typeof Response === 'function' && source instanceof Response) {
    from = source.url || 'the response given';
    if (!source.ok) throw new Error(`vexil: fetching ${from} failed: HTTP ${source.status}`);
    // Streaming compilation needs the right content type (Node's even refuses parameters
    // after it); other responses are compiled from their bytes.
    if (source.headers.get('content-type') === 'application/wasm') {
      return (await WebAssembly.instantiateStreaming(source, imports)).instance.exports;
    }
    source = await source.arrayBuffer();
  }
  try {
    return (await WebAssembly.instantiate(source, imports)).instance.exports;
  } catch (e) {
    // Most often a server answering the wasm's URL with a page (an app's fallback route).
    throw new Error(`vexil: could not compile its wasm from ${from} (${e.message}); if a bundler moved the files, pass where they went: ready({ module, verifier })`, { cause: e });
  }
}

/** Instantiates the core from a compiled WebAssembly.Module. */
export function instantiateSync(module) {
  bind(exportsSync(module, imports));
}

/** Instantiates the core from a URL, a Request or Response (or a promise of one), bytes, or a compiled module. */
export async function instantiate(source) {
  bind(await exportsOf(source, imports));
}

/** The verifier's exports as the host's `verify(publicKey, message, signature)`. */
function verifierOf(v) {
  return (publicKey, message, signature) => {
    const at = v.io(96 + message.length);
    const m = new Uint8Array(v.memory.buffer);
    m.set(publicKey, at);
    m.set(signature, at + 32);
    m.set(message, at + 96);
    return v.verify(message.length) === 1;
  };
}

/** Instantiates the signature verifier from a compiled WebAssembly.Module. */
export function instantiateVerifierSync(module) {
  setVerifier(verifierOf(exportsSync(module, {})));
}

/** Instantiates the signature verifier from what `instantiate` takes. */
export async function instantiateVerifier(source) {
  setVerifier(verifierOf(await exportsOf(source, {})));
}
