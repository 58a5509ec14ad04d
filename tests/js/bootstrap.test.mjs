// Edge bootstrap end to end: `vexil serve` as the origin, the example worker
// (examples/edge-bootstrap) under the real workerd rendering a page with its flags
// inlined, and headless Chromium running that page — which must show the worker's values
// at its first render, before any snapshot request, then upgrade to the browser snapshot
// (never the full one) and follow changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Miniflare } from 'miniflare';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { Snapshot, bootstrapScript, createClient, readBootstrap } from 'vexil';
import { vexil, set, startServe, until } from './vexil-serve.mjs';
import { exampleWorker, packageModules, root } from './workerd-modules.mjs';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const CLIENT_SIDE = ['checkout_redesign', 'new_navigation_bar', 'promo_banner'];
const SERVER_ONLY = 'secret_pricing_experiment';
const TOKEN = 'edge-worker-token';
const AUTH = { Authorization: `Bearer ${TOKEN}` };

function project() {
  const dir = mkdtempSync(join(tmpdir(), 'vexil-bootstrap-'));
  vexil(dir, 'init', '.');
  const toml = readFileSync(join(dir, 'vexil.toml'), 'utf8')
    .replace('client_side = []', 'client_side = ["checkout_*"]')
    .replace('[groups]\n', '[groups]\nbeta_testers = { Equal = [{ Property = ["email"] }, "carol@example.com"] }\n');
  // The origin gives anyone browser snapshots only; the worker holds the token.
  writeFileSync(join(dir, 'vexil.toml'), `${toml}\n[serve]\npublic = "browser"\n`);
  // The token comes from the environment, never from the committed vexil.toml.
  process.env.VEXIL_SERVE_TOKEN = TOKEN;
  const define = (name, type, defaultEnabled, clientSide) => {
    mkdirSync(join(dir, 'config/feature_flags', type), { recursive: true });
    const lines = ['---', `name: ${name}`, "milestone: '17.6'", 'group: group::web', `type: ${type}`, `default_enabled: ${defaultEnabled}`];
    if (clientSide) lines.push('client_side: true');
    writeFileSync(join(dir, 'config/feature_flags', type, `${name}.yml`), lines.join('\n') + '\n');
  };
  define('new_navigation_bar', 'beta', false, true);
  define('promo_banner', 'ops', true, true);
  define('checkout_redesign', 'gitlab_com_derisk', false, false);
  define(SERVER_ONLY, 'experiment', false, false);
  vexil(dir, 'publish');
  set(dir, 'new_navigation_bar', 'true', '--user=1001', '--production');
  set(dir, 'checkout_redesign', 'true', '--feature-group=beta_testers', '--production');
  set(dir, 'promo_banner', 'true', '--production');
  set(dir, 'promo_banner', 'opt_out', '--user=2002', '--production');
  set(dir, SERVER_ONLY, 'true', '--user=1001,7777', '--production');
  return dir;
}

async function edge(origin) {
  const mf = new Miniflare({
    modulesRoot: root,
    modules: [exampleWorker('edge-bootstrap'), ...packageModules(['examples/edge-bootstrap/'])],
    compatibilityDate: '2025-01-01',
    bindings: { ORIGIN_URL: origin, ENVIRONMENT: 'production', FLAGS_TTL_MS: '0', VEXIL_TOKEN: TOKEN },
    host: '127.0.0.1',
    port: 0,
  });
  const url = await mf.ready;
  return { mf, base: url.origin };
}

test('a worker-bootstrapped page shows the edge values at first render, then upgrades to the browser snapshot', async () => {
  const dir = project();
  const origin = await startServe(dir);
  const { mf, base } = await edge(origin.base);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const visitors = [
      { id: 'User:1001', email: 'carol@example.com', expected: { checkout_redesign: true, new_navigation_bar: true, promo_banner: true } },
      { id: 'User:2002', email: 'dave@example.com', expected: { checkout_redesign: false, new_navigation_bar: false, promo_banner: false } },
    ];
    for (const v of visitors) {
      // What the edge should compute: the full snapshot, evaluated here with the same context.
      assert.equal((await fetch(`${origin.base}/production/latest.vxl`)).status, 401, 'the full snapshot is not public');
      const full = Snapshot.decode(new Uint8Array(await (await fetch(`${origin.base}/production/latest.vxl`, { headers: AUTH })).arrayBuffer()));
      const context = { actors: [{ id: v.id, properties: { email: v.email } }] };
      assert.deepEqual(full.bootstrap(context).flags, v.expected, v.id);

      const html = await (await fetch(`${base}/`, { headers: { cookie: `actor=${encodeURIComponent(v.id)}`, 'x-visitor-email': v.email } })).text();
      assert.ok(!html.includes(SERVER_ONLY), 'the page names a server-only flag');
      for (const other of ['User:1001', 'User:2002', 'User:7777'].filter((id) => id !== v.id)) {
        assert.ok(!html.includes(other), `the page for ${v.id} holds ${other}`);
      }
      const inlined = JSON.parse(html.match(/<script type="application\/json" id="vexil-bootstrap">(.*?)<\/script>/)[1]);
      assert.deepEqual(inlined, { environment: 'production', version: full.version, flags: v.expected });

      const page = await browser.newPage({ extraHTTPHeaders: { 'x-visitor-email': v.email } });
      await page.context().addCookies([{ name: 'actor', value: encodeURIComponent(v.id), url: base }]);
      const requests = [];
      page.on('request', (r) => requests.push(new URL(r.url()).pathname));
      await page.goto(`${base}/`);
      await page.waitForFunction(() => window.vexilPage?.client.bootstrapped === false, null, { timeout: 15000 });
      const seen = await page.evaluate(() => {
        const { firstRender, client } = window.vexilPage;
        const snapshots = performance.getEntriesByType('resource').filter((e) => e.name.endsWith('.vxl'));
        const now = Object.fromEntries(Object.entries(client.evaluateAll()).map(([f, d]) => [f, d.enabled]));
        // The first render is the page's own (from the bootstrap) and the browser's first paint.
        const paint = performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? Infinity;
        const rendered = Math.max(firstRender.at, paint);
        return {
          firstRender: firstRender.values,
          painted: paint !== Infinity,
          snapshotsBeforeFirstRender: snapshots.filter((e) => e.startTime <= rendered).map((e) => e.name),
          snapshotRequests: snapshots.length,
          afterUpgrade: now,
          audience: client.snapshot.audience,
          version: client.version,
        };
      });
      assert.deepEqual(seen.firstRender, v.expected, `${v.id}: first render`);
      assert.ok(seen.painted, 'the page was painted');
      assert.deepEqual(seen.snapshotsBeforeFirstRender, [], 'no snapshot was requested before the first render');
      assert.ok(seen.snapshotRequests >= 1, 'the page upgraded from a snapshot');
      assert.deepEqual(seen.afterUpgrade, v.expected, `${v.id}: the browser snapshot agrees with the edge`);
      assert.equal(seen.audience, 'browser');
      assert.equal(seen.version, full.version);
      assert.ok(requests.includes('/production/browser/latest.vxl'), requests.join(' '));
      assert.ok(!requests.some((p) => p.startsWith('/production/') && !p.startsWith('/production/browser/')), `the page fetched a full snapshot: ${requests.join(' ')}`);
      assert.deepEqual(requests.filter((p) => p.endsWith('.wasm')), ['/pkg/dist/vexil_browser_bg.wasm'], 'a client for browser snapshots loads the browser-snapshot module');

      // The same page bundled by esbuild (as an app ships it): the client created before
      // ready() must still initialise vexil itself, which needs browser.js's registration
      // to survive tree-shaking.
      const bundledPage = await browser.newPage({ extraHTTPHeaders: { 'x-visitor-email': v.email } });
      await bundledPage.context().addCookies([{ name: 'actor', value: encodeURIComponent(v.id), url: base }]);
      let bundledScript = null;
      await bundledPage.route(`${base}/`, async (route) => {
        const res = await route.fetch();
        const pageHtml = await res.text();
        const script = pageHtml.match(/<script type="module">([\s\S]*?)<\/script>/)[1].replace("'/pkg/src/browser.js'", "'vexil'");
        const out = await build({ stdin: { contents: script, resolveDir: root }, bundle: true, minify: true, format: 'esm', platform: 'browser', write: false, logLevel: 'error' });
        bundledScript = out.outputFiles[0].text;
        await route.fulfill({ response: res, body: pageHtml.replace(/<script type="module">[\s\S]*?<\/script>/, '<script type="module" src="/app/bundle.js"></script>') });
      });
      await bundledPage.route(`${base}/app/bundle.js`, (route) => route.fulfill({ contentType: 'text/javascript', body: bundledScript }));
      // The bundle asks for the wasm where the package keeps it, next to its own path: the
      // browser-snapshot module, as the page's client says audience 'browser'.
      await bundledPage.route(`${base}/dist/vexil_browser_bg.wasm`, (route) => route.fulfill({ contentType: 'application/wasm', body: readFileSync(`${root}node_modules/vexil/dist/vexil_browser_bg.wasm`) }));
      await bundledPage.goto(`${base}/`);
      await bundledPage.waitForFunction(() => window.vexilPage?.client.bootstrapped === false, null, { timeout: 15000 });
      const bundledSeen = await bundledPage.evaluate(() => ({
        first: window.vexilPage.firstRender.values,
        now: Object.fromEntries(Object.entries(window.vexilPage.client.evaluateAll()).map(([f, d]) => [f, d.enabled])),
        audience: window.vexilPage.client.snapshot.audience,
      }));
      assert.ok(!bundledScript.includes('/pkg/src/'), 'the page ran the bundle');
      assert.deepEqual(bundledSeen, { first: v.expected, now: v.expected, audience: 'browser' }, `${v.id}: the bundled page`);
      await bundledPage.close();

      // The same page on `vexil/bootstrap`: answers with no wasm loaded, and upgrade()
      // fetches the full client (and the wasm) only when called: the one prebuilt client
      // file, vexil.min.js, which finds the wasm in dist/. From the package's source, from
      // the main entry's createBootstrapClient, and from the CDN build (cdn/, for pages
      // without a bundler).
      // With `audience: 'browser'`, the client that initialises vexil loads the
      // browser-snapshot module.
      const builds = [
        { entry: '/pkg/src/bootstrap-entry.js', client: '/pkg/cdn/vexil.min.js', audience: 'browser' },
        ...(v.id === 'User:1001'
          ? [
              { entry: '/pkg/src/browser.js', client: '/pkg/cdn/vexil.min.js' },
              { entry: '/pkg/cdn/bootstrap.min.js', client: '/pkg/cdn/vexil.min.js', audience: 'browser' },
              // The main entry as a bundler ships it, split (the page's chunk is 0.5 KiB):
              // the upgrade's chunk is found and loaded, and finds its wasm.
              { entry: 'vexil', bundled: true, audience: 'browser' },
            ]
          : []),
      ];
      for (const { entry, audience, bundled, client: unbundled } of builds) {
        let client = unbundled;
        let wasm = audience === 'browser' ? '/pkg/dist/vexil_browser_bg.wasm' : '/pkg/dist/vexil_bg.wasm';
        const light = await browser.newPage({ extraHTTPHeaders: { 'x-visitor-email': v.email } });
        await light.context().addCookies([{ name: 'actor', value: encodeURIComponent(v.id), url: base }]);
        // The origin (`vexil serve`) serves the package's src/, dist/ and cdn/ built into it.
        const chunks = new Map();
        if (bundled) {
          await light.route(`${base}/app/*`, (route) => route.fulfill({ contentType: 'text/javascript', body: chunks.get(new URL(route.request().url()).pathname) }));
          // A bundle looks for the wasm next to the package's files it came from: ../dist/.
          wasm = wasm.replace('/pkg/dist/', '/dist/');
          await light.route(`${base}/dist/*`, (route) =>
            route.fulfill({ contentType: 'application/wasm', body: readFileSync(`${root}node_modules/vexil${new URL(route.request().url()).pathname}`) }),
          );
        }
        await light.route(`${base}/`, async (route) => {
          const res = await route.fetch();
          let script = `
              import { createBootstrapClient } from '${entry}';
              const values = (all) => Object.fromEntries(Object.entries(all).map(([f, d]) => [f, d.enabled]));
              const loaded = () => performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname).filter((p) => p.endsWith('.wasm') || p.includes('/vexil.min'));
              const b = createBootstrapClient();
              window.light = { first: values(b.evaluateAll()), loadedFirst: loaded() };
              const context = JSON.parse(document.getElementById('visitor').textContent);
              b.upgrade({ url: '/production/browser', context${audience ? `, audience: '${audience}'` : ''} }).then(
                (c) => { window.light.upgraded = { values: values(c.evaluateAll()), audience: c.snapshot.audience, bootstrapped: c.bootstrapped, loaded: loaded() }; },
                (e) => { window.light.error = String(e); });`;
          if (bundled) {
            const out = await build({ stdin: { contents: script, resolveDir: root }, bundle: true, minify: true, format: 'esm', platform: 'browser', splitting: true, outdir: '/app', write: false, logLevel: 'error' });
            for (const f of out.outputFiles) chunks.set(`/app/${f.path.split('/').pop()}`, f.text);
            client = [...chunks.keys()].find((p) => p.includes('vexil.min'));
            assert.ok(chunks.get('/app/stdin.js').length < 2000, `the page's own chunk: ${chunks.get('/app/stdin.js').length} bytes`);
            script = `import '/app/stdin.js';`;
          }
          const body = (await res.text()).replace(/<script type="module">[\s\S]*?<\/script>/, `<script type="module">${script}</script>`);
          await route.fulfill({ response: res, body });
        });
        await light.goto(`${base}/`);
        await light.waitForFunction(() => window.light?.upgraded || window.light?.error, null, { timeout: 15000 });
        const lightSeen = await light.evaluate(() => window.light);
        assert.equal(lightSeen.error, undefined, entry);
        assert.deepEqual(lightSeen.first, v.expected, `${v.id}: ${entry}'s answers`);
        assert.deepEqual(lightSeen.loadedFirst, [], `${entry} loads no wasm and no client`);
        assert.deepEqual(lightSeen.upgraded.values, v.expected, `${v.id}: after ${entry}'s upgrade()`);
        assert.equal(lightSeen.upgraded.audience, 'browser');
        assert.equal(lightSeen.upgraded.bootstrapped, false);
        assert.deepEqual(lightSeen.upgraded.loaded.sort(), [wasm, client].sort(), `${entry}'s upgrade() loaded the client and the wasm`);
        await light.close();
      }

      if (v.id === 'User:1001') {
        // Live: a rollback on production reaches the page over the browser event stream.
        set(dir, 'new_navigation_bar', 'false', '--production');
        await page.waitForSelector('li[data-flag="new_navigation_bar"][data-enabled="false"]', { timeout: 15000 });
        assert.equal(await page.evaluate(() => window.vexilPage.client.streaming), true);
      }
      await page.close();
    }
  } finally {
    await browser.close();
    await mf.dispose();
    await origin.stop();
  }
});

test('bootstrapped clients answer at once, refuse older snapshots and name what they cannot answer', async () => {
  const dir = project();
  const bytes = new Uint8Array(readFileSync(join(dir, 'public/production/latest.vxl')));
  const full = Snapshot.decode(bytes);
  const context = { actors: [{ id: 'User:1001', properties: { email: 'carol@example.com' } }] };
  const boot = full.bootstrap(context);
  assert.deepEqual(Object.keys(boot.flags).sort(), CLIENT_SIDE);

  const client = createClient({ bootstrap: boot, context });
  assert.equal(client.bootstrapped, true);
  assert.equal(client.version, full.version);
  assert.equal(client.isEnabled('new_navigation_bar'), true);
  assert.deepEqual(client.evaluate('promo_banner'), { enabled: true, reason: 'bootstrap', version: full.version });
  assert.deepEqual(client.evaluate(SERVER_ONLY), { enabled: false, reason: 'not_found', version: full.version });
  assert.throws(() => client.isEnabled('new_navigation_bar', 'User:2'), (e) => e.code === 'NOT_READY' && /own context/.test(e.message));
  await assert.rejects(client.upgrade(), /needs a client created with a bootstrap and a url or kv/);

  // What the page upgrades to: the browser snapshot.
  vexil(dir, 'snapshot', '--env', 'production', '--audience', 'browser', '-o', join(dir, 'browser.vxl'));
  const browserBytes = new Uint8Array(readFileSync(join(dir, 'browser.vxl')));
  const kv = { get: async () => browserBytes.slice().buffer };

  // A snapshot older than the bootstrap would step values back: refused.
  const older = createClient({ bootstrap: { ...boot, version: full.version + 5 }, context, kv });
  const errors = [];
  older.on('error', (e) => errors.push(e.code));
  await older.upgrade().catch(() => {});
  assert.deepEqual(errors, ['OLDER_VERSION']);
  assert.equal(older.bootstrapped, true);
  // So would one of another environment.
  const elsewhere = createClient({ bootstrap: { ...boot, environment: 'staging' }, context, kv });
  const wrong = [];
  elsewhere.on('error', (e) => wrong.push(e.code));
  await elsewhere.upgrade().catch(() => {});
  assert.deepEqual(wrong, ['WRONG_ENVIRONMENT']);

  // An upgrade through KV: the snapshot answers from then on, for the client's context.
  const upgraded = createClient({ bootstrap: boot, context, kv });
  const changes = [];
  upgraded.subscribe(undefined, (changed) => changes.push(changed));
  await upgraded.upgrade();
  assert.equal(upgraded.bootstrapped, false);
  assert.equal(upgraded.snapshot.audience, 'browser');
  assert.equal(upgraded.evaluate('new_navigation_bar').reason, 'actor');
  assert.deepEqual(upgraded.evaluate(SERVER_ONLY).reason, 'not_found');
  assert.deepEqual(changes, [], 'the snapshot agrees with the bootstrap: nothing changed');

  assert.equal(client.evaluate('constructor').reason, 'not_found', 'only the bootstrap\'s own keys are flags');

  // A failed upgrade (here: nothing in KV yet) can be retried.
  let stored = null;
  const later = createClient({ bootstrap: boot, context, kv: { get: async () => stored } });
  await assert.rejects(later.upgrade());
  assert.equal(later.bootstrapped, true);
  stored = browserBytes.slice().buffer;
  await later.upgrade();
  assert.equal(later.bootstrapped, false);

  // A page rendered without a bootstrap (readBootstrap() gives null) gets a plain client.
  const plain = createClient({ bootstrap: null, kv });
  await plain.ready;
  assert.equal(plain.bootstrapped, false);
  assert.equal(plain.snapshot.audience, 'browser');

  for (const bad of [{ environment: 'p', version: -1, flags: {} }, { environment: 'p', version: 1, flags: { a: 'yes' } }, 'production']) {
    assert.throws(() => createClient({ bootstrap: bad }), /bootstrap: expected/);
  }
  assert.throws(() => createClient({ bootstrap: boot, bytes }), /at most one of url or kv/);

  // bootstrapScript: nothing in a flag name can end the script or break the JSON; the nonce
  // is kept to its character set; readBootstrap reads back exactly what went in.
  const tricky = { environment: 'production', version: 3, flags: { 'a</script><script>alert(1)</script>': true, 'line\u2028sep': false, 'amp&<>': true } };
  const html = bootstrapScript(tricky, { nonce: 'r4nd0m"onload="x' });
  assert.equal(html.match(/<\/script>/g).length, 1, html);
  assert.ok(!html.includes('\u2028') && html.includes('\\u2028'), html);
  assert.match(html, /^<script type="application\/json" id="vexil-bootstrap" nonce="r4nd0monload=x">/, "quotes cannot leave the attribute");
  const body = html.replace(/^<script[^>]*>/, '').replace(/<\/script>$/, '');
  const doc = { getElementById: (id) => (id === 'vexil-bootstrap' ? { textContent: body } : null) };
  assert.deepEqual(readBootstrap(doc), tricky);
  assert.equal(readBootstrap({ getElementById: () => null }), null);
});

test('vexil/bootstrap answers from the edge result alone: synchronously, no wasm, no network', async () => {
  const { createBootstrapClient, readBootstrap: read } = await import('vexil/bootstrap');
  assert.equal(read, readBootstrap, 'the same reader as the main entry');
  const page = { environment: 'production', version: 12, flags: { promo_banner: true, checkout_redesign: false } };
  const client = createBootstrapClient(page);
  assert.equal(client.version, 12);
  assert.equal(client.isEnabled('promo_banner'), true);
  assert.equal(client.isEnabled('checkout_redesign'), false);
  assert.deepEqual(client.evaluate('unknown_flag'), { enabled: false, reason: 'not_found', version: 12 });
  assert.deepEqual(client.evaluate('__proto__'), { enabled: false, reason: 'not_found', version: 12 });
  assert.deepEqual(Object.keys(client.evaluateAll()), ['promo_banner', 'checkout_redesign']);
  assert.throws(() => createBootstrapClient({ environment: 'production', version: 1, flags: { f: 'yes' } }), TypeError);
  assert.throws(() => createBootstrapClient(null), TypeError);
});
