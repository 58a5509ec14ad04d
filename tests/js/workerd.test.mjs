// The real workerd, through miniflare: the golden vectors replayed inside a worker (as
// modules, and bundled by esbuild as wrangler bundles one), the example worker
// (examples/worker) on a KV binding and on an origin URL, and signature verification with
// the separately imported verifier module.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { Miniflare } from 'miniflare';
import { build } from 'esbuild';
import { Snapshot } from 'vexil';
import { SUITES } from './replay.mjs';
import { readFixture } from './load-vectors.mjs';
import { exampleWorker as example, packageModules, root } from './workerd-modules.mjs';

function worker(script, extra = {}) {
  return new Miniflare({
    modulesRoot: root,
    modules: [{ type: 'ESModule', path: `${root}${script}`, contents: readFileSync(`${root}${script}`, 'utf8') }, ...packageModules(['workerd/']), ...(extra.modules ?? [])],
    compatibilityDate: '2025-01-01',
    ...extra.options,
  });
}

async function replayIn(mf) {
  const suites = SUITES.map((name) => ({
    name,
    json: readFileSync(new URL(`../vectors/${name}.json`, import.meta.url), 'utf8'),
    bytes: Buffer.from(readFixture(`${name}.vxl`)).toString('base64'),
  }));
  const res = await mf.dispatchFetch('http://worker/replay', { method: 'POST', body: JSON.stringify(suites) });
  assert.equal(res.status, 200, await res.clone().text());
  const { checked, failures } = await res.json();
  assert.deepEqual(failures, []);
  assert.ok(checked > 3000);
  const key = new TextDecoder().decode(readFixture('signed/key.pub')).trim();
  const verify = async (file) => (await mf.dispatchFetch('http://worker/verify', { method: 'POST', body: JSON.stringify({ bytes: Buffer.from(readFixture(file)).toString('base64'), key }) })).json();
  assert.deepEqual(await verify('signed/gates-v1.signed.vxl'), { version: 1 });
  assert.deepEqual(await verify('signed/gates-v1.other-key.vxl'), { error: 'UNTRUSTED_KEY' });
  assert.deepEqual(await verify('gates.vxl'), { error: 'UNSIGNED' });
}

test('workerd agrees with every golden vector', async () => {
  const mf = worker('workerd/replay-worker.js', {
    modules: [{ type: 'ESModule', path: `${root}workerd/replay.mjs`, contents: readFileSync(`${root}replay.mjs`, 'utf8') }],
  });
  try {
    await replayIn(mf);
  } finally {
    await mf.dispose();
  }
});

/** `entry` (a path, or `{ contents }`) bundled by esbuild as wrangler bundles a worker. */
async function bundle(entry) {
  const bundled = await build({
    ...(typeof entry === 'string' ? { entryPoints: [entry] } : { stdin: { contents: entry.contents, resolveDir: root } }),
    // The replay worker imports the replayer from its own directory, where the other tests add it.
    plugins: [{ name: 'replay', setup: (b) => b.onResolve({ filter: /^\.\/replay\.mjs$/ }, () => ({ path: `${root}replay.mjs` })) }],
    bundle: true,
    format: 'esm',
    conditions: ['workerd', 'worker'],
    write: false,
    logLevel: 'error',
    // Wrangler turns wasm imports into CompiledWasm modules; here they stay imports, which
    // resolve next to the bundle (`../dist/`, as written in the package).
    external: ['*.wasm'],
  });
  const wasm = ['vexil_bg.wasm', 'verify_bg.wasm'].map((f) => ({ type: 'CompiledWasm', path: `${root}dist/${f}`, contents: readFileSync(`${root}node_modules/vexil/dist/${f}`) }));
  return new Miniflare({
    modulesRoot: root,
    modules: [{ type: 'ESModule', path: `${root}bundled/worker.js`, contents: bundled.outputFiles[0].text }, ...wasm],
    compatibilityDate: '2025-01-01',
  });
}

// Wrangler bundles a worker with esbuild, honouring the package's `sideEffects`: the entry's
// instantiation of the wasm must survive that, also for a worker that imports nothing of
// the entry's own (while the package declared no side effects at all, it did not).
test('workers bundled by esbuild, as wrangler bundles them, instantiate vexil and agree with every golden vector', async () => {
  const replaying = await bundle(`${root}workerd/replay-worker.js`);
  const minimal = await bundle({
    contents: "import { Snapshot } from 'vexil'; export default { fetch: async (r) => Response.json(Snapshot.decode(new Uint8Array(await r.arrayBuffer())).evaluate('actor_flag', { actors: ['User:1'] })) };",
  });
  try {
    await replayIn(replaying);
    const res = await minimal.dispatchFetch('http://worker/', { method: 'POST', body: readFixture('gates.vxl') });
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(await res.json(), Snapshot.decode(readFixture('gates.vxl')).evaluate('actor_flag', { actors: ['User:1'] }));
  } finally {
    await Promise.all([replaying.dispose(), minimal.dispose()]);
  }
});

const exampleWorker = () => example('worker');

test('example worker reads the snapshot from a KV binding', async () => {
  const mf = new Miniflare({
    modulesRoot: root,
    modules: [exampleWorker(), ...packageModules(['examples/worker/'])],
    compatibilityDate: '2025-01-01',
    kvNamespaces: ['FLAGS'],
    bindings: { FLAGS_TTL_MS: '0' },
  });
  try {
    const kv = await mf.getKVNamespace('FLAGS');
    await kv.put('latest.vxl', readFixture('gates.vxl'));
    let body = await (await mf.dispatchFetch('http://worker/?actor=User:1')).json();
    assert.equal(body.version, 1);
    assert.ok(body.enabled.includes('actor_flag') && body.enabled.includes('on_flag'));
    body = await (await mf.dispatchFetch('http://worker/flags/actor_flag', { headers: { 'x-vexil-actor': 'User:2' } })).json();
    assert.deepEqual(body, { enabled: false, reason: 'off', version: 1 });
    // A new snapshot in KV is picked up on the next request (TTL 0 here).
    await kv.put('latest.vxl', readFixture('signed/gates-v3.on-flag-off.signed.vxl'));
    body = await (await mf.dispatchFetch('http://worker/flags/on_flag')).json();
    assert.deepEqual(body, { enabled: false, reason: 'off', version: 3 });
  } finally {
    await mf.dispose();
  }
});

test('example worker reads the snapshot from an origin URL', async () => {
  const bytes = readFixture('gitlab.vxl');
  const server = createServer((req, res) => {
    if (req.url === '/production/latest.vxl') res.writeHead(200, { ETag: '"1"' }).end(Buffer.from(bytes));
    else res.writeHead(404).end();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const mf = new Miniflare({
    modulesRoot: root,
    modules: [exampleWorker(), ...packageModules(['examples/worker/'])],
    compatibilityDate: '2025-01-01',
    bindings: { ORIGIN_URL: `http://127.0.0.1:${server.address().port}/production` },
  });
  try {
    const body = await (await mf.dispatchFetch('http://worker/flags/default_on_unpersisted?actor=User:9')).json();
    assert.deepEqual(body, { enabled: true, reason: 'default', version: 1 });
  } finally {
    await mf.dispose();
    server.close();
  }
});
