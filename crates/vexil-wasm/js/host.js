// What the wasm core borrows from its host: float text (exact in JavaScript engines, and
// tens of kilobytes of tables in wasm) and ed25519 verification (a separately loaded
// module, so pages that never check signatures never download it).
let verifier = null;

export function setVerifier(fn) {
  verifier = fn;
}

export function hasVerifier() {
  return verifier !== null;
}

export function verify(publicKey, message, signature) {
  // The JS layer checks hasVerifier() before decoding with keys; refuse rather than throw
  // through wasm frames if it ever does not.
  return verifier !== null && verifier(publicKey, message, signature) === true;
}

export function exponential(f) {
  return f.toExponential();
}

export function parseNumber(text) {
  return Number(text);
}
