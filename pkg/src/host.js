// What the wasm core borrows from its host (its `vexil` imports): float text (exact in
// JavaScript engines, and tens of kilobytes of tables in wasm) and ed25519 verification (a
// separately loaded module, so pages that never check signatures never download it).
let verifier = null;
const decoder = new TextDecoder();

export function setVerifier(fn) {
  verifier = fn;
}

export function hasVerifier() {
  return verifier !== null;
}

/** The core's imports; `bytes()` views its memory as it is when called. */
export function hostImports(bytes) {
  return {
    vexil: {
      // The JS layer checks hasVerifier() before decoding with keys; refuse rather than
      // throw through wasm frames if it ever does not.
      verify(key, message, length, signature) {
        const m = bytes();
        return verifier !== null && verifier(m.subarray(key, key + 32), m.subarray(message, message + length), m.subarray(signature, signature + 64)) === true ? 1 : 0;
      },
      exponential(f, out) {
        const text = f.toExponential();
        const m = bytes();
        for (let i = 0; i < text.length; i++) m[out + i] = text.charCodeAt(i);
        return text.length;
      },
      parse_number(text, length) {
        return Number(decoder.decode(bytes().subarray(text, text + length)));
      },
    },
  };
}
