// Headless Chromium (Debian's, driven by playwright-core): the golden vectors replayed in a
// page through the browser entry, signatures through the separately loaded verifier, and the
// plain HTML example following a live update.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { chromium } from 'playwright-core';

const here = new URL('./', import.meta.url);
const types = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.html': 'text/html', '.vxl': 'application/octet-stream', '.pub': 'text/plain' };
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Serves the packed package, the vectors and the examples; `live` is a swappable snapshot. */
async function serve(live) {
  const routes = [
    ['/node_modules/vexil/', new URL('node_modules/vexil/', here)],
    ['/vectors/', new URL('../vectors/', here)],
    ['/examples/', new URL('../../examples/', here)],
    ['/tests/', here],
  ];
  const requests = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    requests.push(path);
    if (path === '/blank.html') {
      res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>blank</title>');
      return;
    }
    if (path === '/flags/production/latest.vxl') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Cache-Control': 'no-store', ETag: `"${live.version}"` }).end(Buffer.from(live.bytes));
      return;
    }
    for (const [prefix, dir] of routes) {
      if (path.startsWith(prefix) && !path.includes('..')) {
        const file = new URL(path.slice(prefix.length), dir);
        if (existsSync(file)) {
          const ext = path.slice(path.lastIndexOf('.'));
          res.writeHead(200, { 'Content-Type': types[ext] ?? 'application/octet-stream' }).end(readFileSync(file));
          return;
        }
      }
    }
    res.writeHead(404).end();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${server.address().port}`, requests, close: () => server.close() };
}

// The package's source (what bundlers take) and its CDN build (cdn/vexil.min.js, for pages
// without a bundler), each in its own page.
for (const entry of ['src/browser.js', 'cdn/vexil.min.js']) {
  test(`chromium agrees with every golden vector and checks signatures (${entry})`, async () => {
    const live = { bytes: readFileSync(new URL('../vectors/gates.vxl', here)), version: 1 };
    const s = await serve(live);
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage();
      page.on('pageerror', (e) => console.error('page error:', e));
      await page.goto(`${s.base}/examples/browser/index.html?actor=User:1`);
      await page.waitForSelector('body[data-ready="true"]');
      // What the replay loads, after the example page's own (source) imports.
      const loadedBefore = s.requests.length;
      const result = await page.evaluate(async (entry) => {
        const vexil = await import(`/node_modules/vexil/${entry}`);
        const { replay, parseVector, SUITES } = await import('/tests/replay.mjs');
        await vexil.ready();
        const suites = await Promise.all(
          SUITES.map(async (name) => ({
            name,
            json: parseVector(await (await fetch(`/vectors/${name}.json`)).text(), vexil.asFloat),
            bytes: new Uint8Array(await (await fetch(`/vectors/${name}.vxl`)).arrayBuffer()),
          })),
        );
        const out = replay(vexil.Snapshot, suites);
        const signed = new Uint8Array(await (await fetch('/vectors/signed/gates-v1.signed.vxl')).arrayBuffer());
        const key = (await (await fetch('/vectors/signed/key.pub')).text()).trim();
        try {
          vexil.Snapshot.decode(signed, { publicKeys: [key] });
        } catch (e) {
          out.beforeVerifier = e.code;
        }
        await vexil.loadVerifier();
        out.signed = vexil.Snapshot.decode(signed, { publicKeys: [key] }).version;
        return out;
      }, entry);
      assert.deepEqual(result.failures, []);
      assert.ok(result.checked > 3000);
      assert.equal(result.beforeVerifier, 'VERIFIER_NOT_LOADED');
      assert.equal(result.signed, 1);
      assert.ok(s.requests.includes('/node_modules/vexil/dist/verify_bg.wasm'), 'the verifier is a separate download');
      if (entry.startsWith('cdn/')) {
        const loaded = s.requests.slice(loadedBefore);
        assert.ok(!loaded.some((p) => p.startsWith('/node_modules/vexil/src/')), `the CDN build is self-contained: ${loaded.join(' ')}`);
        assert.ok(loaded.includes('/node_modules/vexil/cdn/vexil.min.js'), loaded.join(' '));
      }
    } finally {
      await browser.close();
      s.close();
    }
  });
}

// A page that reads browser snapshots only loads the smaller module, which answers them as
// the full one does and refuses a full snapshot by name.
for (const entry of ['src/browser.js', 'cdn/vexil.min.js']) {
  test(`chromium's browser-snapshot module agrees with every golden vector's browser snapshot (${entry})`, async () => {
    const s = await serve({ bytes: new Uint8Array(0), version: 0 });
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage();
      page.on('pageerror', (e) => console.error('page error:', e));
      await page.goto(`${s.base}/blank.html`);
      const result = await page.evaluate(async (entry) => {
        const vexil = await import(`/node_modules/vexil/${entry}`);
        const { replay, parseVector, SUITES } = await import('/tests/replay.mjs');
        const out = {};
        await vexil.ready({ audience: 'browser' });
        const load = async (name, dir) => new Uint8Array(await (await fetch(`/vectors/${dir}${name}.vxl`)).arrayBuffer());
        const suites = await Promise.all(
          SUITES.map(async (name) => ({ name, json: parseVector(await (await fetch(`/vectors/${name}.json`)).text(), vexil.asFloat), bytes: await load(name, 'browser/') })),
        );
        Object.assign(out, replay(vexil.Snapshot, suites));
        try {
          vexil.Snapshot.decode(await load('gates', ''));
        } catch (e) {
          out.full = `${e.code}: ${e.message}`;
        }
        try {
          await vexil.ready();
        } catch (e) {
          out.thenFull = e.message;
        }
        return out;
      }, entry);
      assert.deepEqual(result.failures, []);
      assert.ok(result.checked > 3000, `${result.checked} cases`);
      assert.match(result.full, /^WRONG_AUDIENCE: a full snapshot, but this build reads only browser snapshots \(an environment's \/browser\/ files; the full module reads both\) at byte \d+$/);
      assert.match(result.thenFull, /initialised by ready\(\{ audience: 'browser' \}\), for browser snapshots only: on a page that also reads full snapshots, call ready\(\) first/);
      const wasm = s.requests.filter((p) => p.endsWith('.wasm'));
      assert.deepEqual(wasm, ['/node_modules/vexil/dist/vexil_browser_bg.wasm'], 'only the browser-snapshot module is fetched');
    } finally {
      await browser.close();
      s.close();
    }
  });
}

test('the plain HTML example shows flags and follows a live update', async () => {
  const live = { bytes: readFileSync(new URL('../vectors/signed/gates-v1.signed.vxl', here)), version: 1 };
  const s = await serve(live);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    await page.clock.install();
    await page.goto(`${s.base}/examples/browser/index.html?actor=User:1`);
    await page.waitForSelector('body[data-ready="true"]');
    assert.equal(await page.textContent('li[data-flag="on_flag"]'), 'on_flag: on (boolean)');
    assert.equal(await page.textContent('#version'), 'vectors-gates v1');
    assert.ok(!s.requests.includes('/node_modules/vexil/dist/verify_bg.wasm'), 'no verifier without keys');
    live.bytes = readFileSync(new URL('../vectors/signed/gates-v3.on-flag-off.signed.vxl', here));
    live.version = 3;
    await page.clock.runFor(6000);
    await page.waitForFunction(() => document.getElementById('version').textContent.endsWith('v3'));
    assert.equal(await page.textContent('li[data-flag="on_flag"]'), 'on_flag: off (off)');
    await page.screenshot({ path: new URL('artifacts/example-page.png', here).pathname });
  } finally {
    await browser.close();
    s.close();
  }
});
