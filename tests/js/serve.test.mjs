// The npm package's live mode against a real `vexil serve`: updates over the event stream,
// resume after the server goes away, fallback to polling where the origin has no stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createClient, loadVerifier } from 'vexil';
import { demoProject, startServe, set, until, vexil } from './vexil-serve.mjs';

test('a live client follows the event stream and reports changes for its context', async () => {
  const dir = demoProject();
  const server = await startServe(dir);
  const client = createClient({ url: `${server.base}/staging`, live: true, pollInterval: 60000 });
  try {
    await client.ready;
    await until(() => client.streaming, 5000, 'streaming');
    const changes = [];
    client.subscribe({ actors: ['User:5'] }, (changed, decisions) => changes.push({ changed, enabled: decisions.vulnerability_report_v3.enabled }));
    const start = client.version;
    set(dir, 'vulnerability_report_v3', 'true', '--staging');
    await until(() => changes.length === 1, 5000, 'the change event');
    assert.deepEqual(changes, [{ changed: ['vulnerability_report_v3'], enabled: true }]);
    assert.equal(client.version, start + 1);
    // A change elsewhere is not this client's; one that does not change this actor's result
    // moves the version without a callback.
    set(dir, 'vulnerability_report_v3', 'true', '--production');
    set(dir, 'new_navigation_bar', 'true', '--user=77', '--staging');
    await until(() => client.version === start + 2, 5000, 'version');
    assert.equal(changes.length, 1);
  } finally {
    client.close();
    await server.stop();
  }
});

test('a verifying client takes only what vexil serve vouches for, from the stream and the directory target', async () => {
  const dir = demoProject();
  vexil(dir, 'keygen');
  vexil(dir, 'publish');
  const publicKeys = [JSON.parse(vexil(dir, 'inspect', '--env', 'staging', '--json')).signer];
  await loadVerifier();
  const server = await startServe(dir);
  const options = { publicKeys, environment: 'staging', audience: 'server', storage: null };
  const client = createClient({ url: `${server.base}/staging`, live: true, pollInterval: 60000, ...options });
  const errors = [];
  client.on('error', (e) => errors.push(e.code));
  try {
    await client.ready;
    await until(() => client.streaming, 5000, 'streaming');
    assert.equal(client.stale, false);
    const start = client.version;
    set(dir, 'vulnerability_report_v3', 'true', '--staging');
    await until(() => client.version === start + 1, 5000, 'the announced version, vouched for');
    assert.deepEqual(errors, []);
    // The wrong environment or audience is refused, though the same key signed it.
    const wrong = createClient({ url: `${server.base}/production`, ...options });
    await assert.rejects(wrong.ready);
    const browser = createClient({ url: `${server.base}/staging/browser`, ...options });
    const browserErrors = [];
    browser.on('error', (e) => browserErrors.push(e.code));
    await assert.rejects(browser.ready);
    assert.ok(browserErrors.includes('WRONG_AUDIENCE'), `${browserErrors}`);
    const asBrowser = createClient({ url: `${server.base}/staging/browser`, ...options, audience: 'browser' });
    await asBrowser.ready;
    assert.equal(asBrowser.version, client.version);
  } finally {
    client.close();
    await server.stop();
  }
  // A directory target gets the statement with every push: a static origin works the same.
  const files = createServer((req, res) => {
    const path = join(dir, 'public', req.url);
    if (!existsSync(path)) return res.writeHead(404).end();
    res.writeHead(200).end(readFileSync(path));
  });
  await new Promise((r) => files.listen(0, '127.0.0.1', r));
  try {
    const fromFiles = createClient({ url: `http://127.0.0.1:${files.address().port}/staging`, ...options });
    await fromFiles.ready;
    assert.equal(fromFiles.version, client.version);
  } finally {
    files.close();
  }
});

test('after the server goes away, the client reconnects with Last-Event-ID and catches up', async () => {
  const dir = demoProject();
  let server = await startServe(dir);
  const port = server.port;
  const client = createClient({ url: `${server.base}/dev`, live: true, pollInterval: 1000 });
  const seen = [];
  try {
    await client.ready;
    await until(() => client.streaming, 5000, 'streaming');
    client.on('update', (snapshot) => seen.push(snapshot.version));
    const start = client.version;
    await server.stop();
    await until(() => !client.streaming, 5000, 'the drop noticed');
    set(dir, 'vulnerability_report_v3', 'true', '--dev');
    set(dir, 'vulnerability_report_v3', 'false', '--dev');
    server = await startServe(dir, [], `127.0.0.1:${port}`);
    await until(() => client.version === start + 2, 10000, 'caught up');
    await until(() => client.streaming, 5000, 'streaming again');
    // Resumed from its version: straight to the newest, not through the one in between.
    assert.deepEqual(seen, [start + 2]);
    assert.equal(client.isEnabled('vulnerability_report_v3'), false);
    set(dir, 'vulnerability_report_v3', 'true', '--dev');
    await until(() => client.version === start + 3, 5000, 'the next change over the new stream');
  } finally {
    client.close();
    await server.stop();
  }
});

test('where the origin has no event stream, a live client polls latest.vxl', async () => {
  const dir = demoProject();
  // A plain static origin over the directory target, as a bucket or CDN would serve it.
  const root = join(dir, 'public');
  const requests = [];
  const origin = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    requests.push(path);
    const file = join(root, path);
    if (!path.includes('..') && existsSync(file) && path.endsWith('.vxl')) res.writeHead(200, { 'Content-Type': 'application/octet-stream' }).end(readFileSync(file));
    else res.writeHead(404).end();
  });
  await new Promise((r) => origin.listen(0, '127.0.0.1', r));
  const client = createClient({ url: `http://127.0.0.1:${origin.address().port}/dev`, live: true, pollInterval: 100 });
  try {
    await client.ready;
    const start = client.version;
    set(dir, 'vulnerability_report_v3', 'true', '--dev');
    await until(() => client.version === start + 1, 5000, 'polled update');
    assert.equal(client.streaming, false);
    assert.equal(requests.filter((p) => p === '/dev/events').length, 1, 'asked for a stream once, then polled');
    assert.ok(requests.filter((p) => p === '/dev/latest.vxl').length >= 2);
  } finally {
    client.close();
    origin.close();
  }
});

test('the stream announces what vexil publish and rollback commit, too', async () => {
  const dir = demoProject();
  const server = await startServe(dir);
  const client = createClient({ url: `${server.base}/production`, live: true });
  try {
    await client.ready;
    await until(() => client.streaming, 5000, 'streaming');
    const start = client.version;
    assert.equal(client.isEnabled('legacy_search_api', 'User:1'), true);
    vexil(dir, 'rollback', '--env', 'production', '--to', String(start - 1));
    await until(() => client.version === start + 1, 5000, 'rollback announced');
    assert.equal(client.isEnabled('legacy_search_api', 'User:1'), true);
    assert.equal(client.isEnabled('legacy_search_api', 'User:42'), true, 'the opt-out rolled back');
  } finally {
    client.close();
    await server.stop();
  }
});

test('the demo ends with vexil serve on its project, the dashboard reachable', { timeout: 120000 }, async () => {
  const { spawn } = await import('node:child_process');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { VEXIL } = await import('./vexil-serve.mjs');
  const demo = join(mkdtempSync(join(tmpdir(), 'vexil-demo-')), 'demo');
  const script = new URL('../../scripts/demo.sh', import.meta.url).pathname;
  const child = spawn(script, [], { env: { ...process.env, VEXIL: VEXIL, DEMO_DIR: demo, VEXIL_LISTEN: '127.0.0.1:0' }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  try {
    await until(() => /vexil serve: http:\/\/127\.0\.0\.1:\d+\//.test(out), 100000, 'the demo reaching vexil serve');
    const base = out.match(/vexil serve: (http:\/\/127\.0\.0\.1:\d+)\//)[1];
    const health = await (await fetch(`${base}/healthz`)).json();
    assert.equal(health.status, 'ok');
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>vexil/);
    assert.match(out, /feature set merge_trains_v2 25 --actors --production/);
  } finally {
    child.kill('SIGTERM');
  }
});

test('the OpenFeature server provider emits configuration-changed for versions vexil serve announces', async () => {
  const { OpenFeature, ProviderEvents } = await import('@openfeature/server-sdk');
  const { VexilServerProvider } = await import('vexil/openfeature/server');
  const dir = demoProject();
  const server = await startServe(dir);
  // A long poll interval: only the stream can deliver the change in time.
  const provider = new VexilServerProvider({ url: `${server.base}/dev`, live: true, pollInterval: 600000 });
  try {
    await OpenFeature.setProviderAndWait('vexil-live', provider);
    const client = OpenFeature.getClient('vexil-live');
    assert.equal(await client.getBooleanValue('vulnerability_report_v3', true, { targetingKey: 'User:1' }), false);
    await until(() => provider.client.streaming, 5000, 'streaming');
    const changed = new Promise((resolve) => client.addHandler(ProviderEvents.ConfigurationChanged, resolve));
    set(dir, 'vulnerability_report_v3', 'true', '--dev');
    const event = await changed;
    assert.equal(event.metadata.version, provider.client.version);
    const details = await client.getBooleanDetails('vulnerability_report_v3', false, { targetingKey: 'User:1' });
    assert.deepEqual([details.value, details.reason], [true, 'STATIC']);
  } finally {
    provider.client.close();
    await OpenFeature.close();
    await server.stop();
  }
});
