// The edge bootstrap: what an edge worker computed for one page (`snapshot.bootstrap()`),
// inlined into its HTML and read back by the page, which answers from it before any wasm or
// network.

const BOOTSTRAP_ID = 'vexil-bootstrap';

/**
 * `result` (from `snapshot.bootstrap(context)`) as a `<script type="application/json">`
 * element for the page's HTML, escaped so no flag name can end the script early.
 */
export function bootstrapScript(result, { nonce } = {}) {
  const json = JSON.stringify(result).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const attr = nonce === undefined ? '' : ` nonce="${String(nonce).replace(/[^A-Za-z0-9+/=_-]/g, '')}"`;
  return `<script type="application/json" id="${BOOTSTRAP_ID}"${attr}>${json}</script>`;
}

/** The bootstrap `bootstrapScript` put into this page, or null if there is none. */
export function readBootstrap(doc = globalThis.document) {
  const text = doc?.getElementById(BOOTSTRAP_ID)?.textContent;
  return text ? JSON.parse(text) : null;
}

/** `b`, if it is what `snapshot.bootstrap()` returns; throws otherwise. */
export function checkBootstrap(b) {
  const ok =
    b !== null &&
    typeof b === 'object' &&
    typeof b.environment === 'string' &&
    Number.isSafeInteger(b.version) &&
    b.version >= 0 &&
    b.flags !== null &&
    typeof b.flags === 'object' &&
    Object.values(b.flags).every((v) => typeof v === 'boolean');
  if (!ok) throw new TypeError('bootstrap: expected { environment, version, flags: { [flag]: boolean } } from snapshot.bootstrap()');
  return b;
}


/** Resolves once the page has rendered: after `load`, and after the next frame. */
export function afterFirstRender() {
  const w = globalThis;
  if (!w.document) return Promise.resolve();
  const loaded = w.document.readyState === 'complete' ? Promise.resolve() : new Promise((r) => w.addEventListener('load', r, { once: true }));
  return loaded.then(
    () =>
      new Promise((resolve) => {
        // Hidden tabs get no frames; the timer makes sure they upgrade too.
        const timer = setTimeout(resolve, 1000);
        w.requestAnimationFrame?.(() => setTimeout(() => (clearTimeout(timer), resolve()), 0));
      }),
  );
}

