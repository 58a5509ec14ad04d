// The real workerd, through miniflare: the golden vectors replayed inside a worker, the
// example worker (examples/worker) on a KV binding and on an origin URL, and signature
// verification with the separately imported verifier module.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { Miniflare } from 'miniflare';
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

test('workerd agrees with every golden vector', async () => {
  const mf = worker('workerd/replay-worker.js', {
    modules: [{ type: 'ESModule', path: `${root}workerd/replay.mjs`, contents: readFileSync(`${root}replay.mjs`, 'utf8') }],
  });
  try {
    const suites = SUITES.map((name) => ({
      name,
      json: readFileSync(new URL(`../vectors/${name}.json`, import.meta.url), 'utf8'),
      bytes: Buffer.from(readFixture(`${name}.vxl`)).toString('base64'),
    }));
    const res = await mf.dispatchFetch('http://worker/replay', { method: 'POST', body: JSON.stringify(suites) });
    const { checked, failures } = await res.json();
    assert.deepEqual(failures, []);
    assert.ok(checked > 3000);
    const key = new TextDecoder().decode(readFixture('signed/key.pub')).trim();
    const verify = async (file) => (await mf.dispatchFetch('http://worker/verify', { method: 'POST', body: JSON.stringify({ bytes: Buffer.from(readFixture(file)).toString('base64'), key }) })).json();
    assert.deepEqual(await verify('signed/gates-v1.signed.vxl'), { version: 1 });
    assert.deepEqual(await verify('signed/gates-v1.other-key.vxl'), { error: 'UNTRUSTED_KEY' });
    assert.deepEqual(await verify('gates.vxl'), { error: 'UNSIGNED' });
  } finally {
    await mf.dispose();
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
