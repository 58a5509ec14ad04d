// TUF's attack suite on the SDK, in Node and in the real workerd (miniflare): rollback,
// freeze, mix-and-match across environments and audiences, endless data, slow retrieval,
// forged and stripped signatures — each refused with its code, by a client with nothing yet
// and by one holding a good version, which keeps it. Then 2 MiB forged snapshots under
// wasm's memory: refused, with keys before anything is made of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { Miniflare } from 'miniflare';
import * as vexil from 'vexil';
import { memory } from './node_modules/vexil/src/boundary.js';
import { GOOD, SCENARIOS, forgedSnapshots, runAttacks } from './attacks.mjs';
import { readFixture } from './load-vectors.mjs';
import { packageModules, root } from './workerd-modules.mjs';

const key = new TextDecoder().decode(readFixture('signed/key.pub')).trim();
const files = Object.fromEntries(readdirSync(new URL('../vectors/freshness/', import.meta.url)).map((f) => [f, readFixture(`freshness/${f}`)]));
const MiB = 1 << 20;

/** The bytes a scenario names: a fixture, one with a byte flipped, or one unsigned. */
function bytesOf(name) {
  const [how, file] = name.includes(':') ? name.split(':') : [null, name];
  const bytes = files[file].slice();
  // Inside what the signature covers (before the 97-byte trailer).
  if (how === 'forged') bytes[(bytes.length - 97) >> 1] ^= 1;
  if (how === 'stripped') return Uint8Array.of(...bytes.subarray(0, bytes.length - 97), 0);
  return bytes;
}

/** An origin serving whatever the last POST /__serve said. */
async function hostileOrigin() {
  let scenario = GOOD;
  const server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/__serve') {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        scenario = JSON.parse(body);
        res.end('ok');
      });
      return;
    }
    const version = /^\/production\/v\/(\d+)\.vxl$/.exec(req.url)?.[1];
    if (version !== undefined) {
      const file = `production-v${version}.vxl`;
      if (!(scenario.versions ?? []).includes(file)) return res.writeHead(404).end();
      return res.writeHead(200).end(files[file]);
    }
    if (req.url === '/production/freshness.vxf') {
      if (scenario.freshness === null) return res.writeHead(404).end();
      return res.writeHead(200).end(bytesOf(scenario.freshness));
    }
    if (req.url !== '/production/latest.vxl') return res.writeHead(404).end();
    if (scenario.latest === 'endless') {
      res.writeHead(200);
      const chunk = Buffer.alloc(MiB, 7);
      let sent = 0;
      const more = () => {
        while (!res.destroyed && sent < 256 * MiB) {
          sent += chunk.length;
          if (!res.write(chunk)) return res.once('drain', more);
        }
        res.end();
      };
      return more();
    }
    if (scenario.latest === 'slow') {
      res.writeHead(200);
      const drip = setInterval(() => (res.destroyed ? clearInterval(drip) : res.write('V')), 100);
      return res.on('close', () => clearInterval(drip));
    }
    res.writeHead(200).end(bytesOf(scenario.latest));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((r) => (server.closeAllConnections(), server.close(r))),
  };
}

function check(outcome, runtime) {
  const { results, caughtUp, reload } = outcome;
  assert.equal(results.length, SCENARIOS.length);
  for (const r of results) {
    const what = `${runtime}: ${r.name}`;
    assert.notEqual(r.fresh.ready, 'ready', `${what}: a client with nothing yet must not take it`);
    assert.ok(r.fresh.codes.includes(r.code), `${what}: reported ${r.fresh.codes} on first load, not ${r.code}`);
    assert.equal(r.holding.version, 2, `${what}: the last good version is kept`);
    assert.ok(r.holding.kept, `${what}: and answers as before`);
    assert.ok(r.holding.codes.includes(r.code), `${what}: reported ${r.holding.codes} while holding, not ${r.code}`);
  }
  assert.equal(caughtUp, 3, `${runtime}: a stale latest.vxl next to a newer statement fetches that version`);
  assert.notEqual(reload.ready, 1, `${runtime}: a reload is not rolled back below its stored mark`);
  assert.ok(reload.codes.includes('ROLLBACK'), `${runtime}: ${reload.codes}`);
  assert.deepEqual(reload.mark, ['3']);
}

function checkMemory(m, runtime) {
  assert.equal(m.withKeys, 'BAD_SIGNATURE', runtime);
  assert.equal(m.withoutKeys, 'TOO_LARGE', runtime);
  // The input's copy into wasm memory, and nothing made of it before its signature failed.
  assert.ok(m.keyedGrowth <= 4 * MiB, `${runtime}: wasm memory grew ${m.keyedGrowth} bytes for a forgery`);
  assert.ok(m.peak < 128 * MiB, `${runtime}: wasm memory reached ${m.peak} bytes`);
}

test('Node: every attack is refused with its code, the last good state kept', async () => {
  await vexil.loadVerifier();
  const origin = await hostileOrigin();
  try {
    check(await runAttacks(vexil, { origin: origin.url, key }), 'node');
    checkMemory(forgedSnapshots(vexil, { key, wasmBytes: () => memory().buffer.byteLength }), 'node');
  } finally {
    await origin.close();
  }
});

test('workerd: every attack is refused with its code, the last good state kept', async () => {
  const origin = await hostileOrigin();
  const mf = new Miniflare({
    modulesRoot: root,
    modules: [
      { type: 'ESModule', path: `${root}workerd/attack-worker.js`, contents: readFileSync(`${root}workerd/attack-worker.js`, 'utf8') },
      { type: 'ESModule', path: `${root}workerd/attacks.mjs`, contents: readFileSync(`${root}attacks.mjs`, 'utf8') },
      ...packageModules(['workerd/']),
    ],
    compatibilityDate: '2025-01-01',
  });
  try {
    const call = async (path) => (await mf.dispatchFetch(`http://worker${path}`, { method: 'POST', body: JSON.stringify({ origin: origin.url, key }) })).json();
    check(await call('/attacks'), 'workerd');
    checkMemory(await call('/memory'), 'workerd');
  } finally {
    await mf.dispose();
    await origin.close();
  }
});

test('bytes inlined with their statement are checked as fetched ones are; trust needs its environment and audience', async () => {
  await vexil.loadVerifier();
  const trust = { publicKeys: [key], environment: 'production', audience: 'server', storage: null };
  const v3 = files['production-v3.vxl'];
  const inlined = vexil.createClient({ bytes: v3, freshness: files['production-v3.fresh.vxf'], ...trust });
  assert.equal(inlined.version, 3);
  assert.equal(inlined.stale, false);
  assert.throws(() => vexil.createClient({ bytes: v3, freshness: files['production-v3.expired.vxf'], ...trust }), (e) => e.code === 'EXPIRED');
  assert.throws(() => vexil.createClient({ bytes: v3, freshness: files['production-v1.fresh.vxf'].subarray(1), ...trust }), (e) => e.code === 'BAD_MAGIC');
  assert.throws(() => vexil.createClient({ bytes: files['staging-v9.vxl'], ...trust }), (e) => e.code === 'WRONG_ENVIRONMENT');
  assert.throws(() => vexil.createClient({ bytes: v3, ...trust, audience: 'browser' }), (e) => e.code === 'WRONG_AUDIENCE');
  assert.throws(() => vexil.createClient({ url: 'https://o/production', publicKeys: [key] }), /needs environment and audience/);
  assert.throws(() => vexil.createClient({ url: 'https://o/production', ...trust, freshness: v3 }), TypeError);
});
