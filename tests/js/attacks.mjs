// TUF's attacks on a client, shared by Node and workerd (attacks.test.mjs): a hostile
// origin (`hostileOrigin`, node:http) serves whatever the current scenario says, and
// `runAttacks` — which runs in either runtime, given the SDK — plays every scenario twice:
// against a client with nothing yet (it must not become ready) and against one holding a
// good version (it must keep it). Both must report the scenario's error code.

/** Scenarios: what the origin serves as latest.vxl and freshness.vxf (fixture names under
 * tests/vectors/freshness/, or a hostile behaviour), and the code the client must report. */
export const SCENARIOS = [
  { name: 'rollback: an old snapshot with its own expired statement', latest: 'production-v1.vxl', freshness: 'production-v1.expired.vxf', code: 'EXPIRED' },
  { name: 'rollback: an old snapshot with a fresh statement for a newer version', latest: 'production-v1.vxl', freshness: 'production-v3.fresh.vxf', code: 'ROLLBACK' },
  { name: 'freeze: the newest snapshot, its statement expired', latest: 'production-v3.vxl', freshness: 'production-v3.expired.vxf', code: 'EXPIRED' },
  { name: "mix-and-match: staging's snapshot and statement", latest: 'staging-v9.vxl', freshness: 'staging-v9.fresh.vxf', code: 'WRONG_ENVIRONMENT' },
  { name: 'mix-and-match: the browser snapshot to a server client', latest: 'production-browser-v3.vxl', freshness: 'production-browser-v3.fresh.vxf', code: 'WRONG_AUDIENCE' },
  { name: "mix-and-match: production's snapshot, staging's statement", latest: 'production-v3.vxl', freshness: 'staging-v9.fresh.vxf', code: 'WRONG_ENVIRONMENT' },
  { name: 'a statement signed by another key', latest: 'production-v3.vxl', freshness: 'production-v3.other-key.vxf', code: 'UNTRUSTED_KEY' },
  { name: 'a forged statement', latest: 'production-v3.vxl', freshness: 'forged:production-v3.fresh.vxf', code: 'BAD_SIGNATURE' },
  { name: 'a forged snapshot', latest: 'forged:production-v3.vxl', freshness: 'production-v3.fresh.vxf', code: 'BAD_SIGNATURE' },
  { name: 'a stripped signature', latest: 'stripped:production-v3.vxl', freshness: 'production-v3.fresh.vxf', code: 'UNSIGNED' },
  { name: 'no statement at all', latest: 'production-v3.vxl', freshness: null, code: 'NO_FRESHNESS' },
  { name: 'endless data', latest: 'endless', freshness: 'production-v3.fresh.vxf', code: 'FETCH_FAILED' },
  { name: 'slow retrieval', latest: 'slow', freshness: 'production-v3.fresh.vxf', code: 'TIMEOUT' },
];

/** What the origin serves before an attack: version 2, vouched for. */
export const GOOD = { latest: 'production-v2.vxl', freshness: 'production-v2.fresh.vxf' };

/**
 * Plays every scenario with `sdk` ({ createClient }) against `origin` (its base URL; the
 * environment's files are under `${origin}/production`). Returns one result per scenario.
 */
export async function runAttacks(sdk, { origin, key, fetchTimeout = 800 }) {
  const options = { url: `${origin}/production`, publicKeys: [key], environment: 'production', audience: 'server', storage: null, fetchTimeout };
  const serve = (s) => fetch(`${origin}/__serve`, { method: 'POST', body: JSON.stringify(s) }).then((r) => r.text());
  const results = [];
  for (const s of SCENARIOS) {
    await serve(s);
    const fresh = sdk.createClient(options);
    const freshCodes = [];
    fresh.on('error', (e) => freshCodes.push(e.code));
    const ready = await fresh.ready.then(() => 'ready', (e) => e.code);
    fresh.close();

    await serve(GOOD);
    const holding = sdk.createClient(options);
    await holding.ready;
    const before = holding.isEnabled('on_flag');
    const holdingCodes = [];
    holding.on('error', (e) => holdingCodes.push(e.code));
    await serve(s);
    await holding.refresh();
    results.push({
      name: s.name,
      code: s.code,
      fresh: { ready, codes: freshCodes },
      holding: { version: holding.version, kept: holding.isEnabled('on_flag') === before, codes: holdingCodes },
    });
    holding.close();
  }
  // A CDN's stale latest.vxl next to a fresh statement for a newer version: the client
  // fetches that version instead of refusing.
  await serve({ latest: 'production-v1.vxl', freshness: 'production-v3.fresh.vxf', versions: ['production-v3.vxl'] });
  const catchingUp = sdk.createClient(options);
  const caughtUp = await catchingUp.ready.then(() => catchingUp.version, (e) => e.code);
  catchingUp.close();
  // A high-water mark in storage survives the client: a reload is not rolled back either.
  const memory = new Map();
  const storage = { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => memory.set(k, v) };
  await serve({ latest: 'production-v3.vxl', freshness: 'production-v3.fresh.vxf' });
  const first = sdk.createClient({ ...options, storage });
  await first.ready;
  first.close();
  await serve({ latest: 'production-v1.vxl', freshness: 'production-v1.fresh.vxf' });
  const reloaded = sdk.createClient({ ...options, storage });
  const reloadCodes = [];
  reloaded.on('error', (e) => reloadCodes.push(e.code));
  const reload = await reloaded.ready.then(() => reloaded.version, (e) => e.code);
  reloaded.close();
  return { results, caughtUp, reload: { ready: reload, codes: reloadCodes, mark: [...memory.values()] } };
}

/**
 * A 2 MiB snapshot whose one flag claims a run of 16 million consecutive ids (one input bit
 * each, eight bytes decoded), signed with garbage under `signer` (32 bytes) when given.
 */
export function denseForgery(signer) {
  const size = 2 << 20;
  const head = [0x56, 0x45, 0x58, 0x4c, 1, 1, 0x78, 1, 0, 0, 1, 4, 0x55, 0x73, 0x65, 0x72, 0, 1, 1, 0x66, 0, 2, 0, 0, 1, 0];
  const trailer = signer ? [1, ...signer, ...new Array(64).fill(0x5a)] : [0];
  const varint = (v) => {
    const out = [];
    for (; v >= 0x80; v = Math.floor(v / 128)) out.push((v % 128) | 0x80);
    out.push(v);
    return out;
  };
  const blob = size - 64 - trailer.length;
  const bytes = [...head, ...varint(blob * 8), 0, 0, 0, 0, 0, 0, 0, ...varint(blob)];
  const out = new Uint8Array(bytes.length + blob + trailer.length);
  out.set(bytes);
  out.fill(0xff, bytes.length, bytes.length + blob);
  out.set(trailer, bytes.length + blob);
  return out;
}

/**
 * Decodes 2 MiB forgeries with `sdk`, reporting their codes and how wasm memory moved
 * (`wasmBytes()`: its current size; it never shrinks, so the last reading is its peak).
 */
export function forgedSnapshots(sdk, { key, wasmBytes }) {
  const signer = Uint8Array.from(atob(key), (c) => c.charCodeAt(0));
  const codeOf = (f) => {
    try {
      f();
      return 'decoded';
    } catch (e) {
      return e.code;
    }
  };
  const before = wasmBytes();
  const withKeys = codeOf(() => sdk.Snapshot.decode(denseForgery(signer), { publicKeys: [key] }));
  const afterKeyed = wasmBytes();
  const withoutKeys = codeOf(() => sdk.Snapshot.decode(denseForgery(null)));
  return { withKeys, withoutKeys, keyedGrowth: afterKeyed - before, peak: wasmBytes() };
}
