// The browser-snapshot module (dist/vexil_browser_bg.wasm, what `ready({ audience: 'browser' })`
// loads), in Node through pkg/src/core.js, the code browsers run: it answers every golden
// vector from the suites' browser snapshots as the full module does, and refuses a full
// snapshot by name, changing nothing. Its own process: it rebinds the package's module.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Snapshot, SnapshotError } from 'vexil';
import { instantiate } from './node_modules/vexil/src/core.js';
import { loadSuites, readFixture } from './load-vectors.mjs';
import { replay } from './replay.mjs';

const dist = new URL('./node_modules/vexil/dist/', import.meta.url);
const browserModule = readFileSync(new URL('vexil_browser_bg.wasm', dist));

test('the browser-snapshot module is smaller than the full one', () => {
  assert.ok(browserModule.length < readFileSync(new URL('vexil_bg.wasm', dist)).length);
});

test('the full module and the browser-snapshot module answer every golden vector alike', async () => {
  const browserSuites = loadSuites({ audience: 'browser' });
  const full = replay(Snapshot, browserSuites);
  assert.deepEqual(full.failures, []);
  await instantiate(new Uint8Array(browserModule));
  const { checked, failures } = replay(Snapshot, browserSuites);
  assert.deepEqual(failures, []);
  assert.equal(checked, full.checked);
  assert.ok(checked > 3000, `${checked} cases`);
});

test('the browser-snapshot module refuses a full snapshot, naming why, and keeps what it holds', async () => {
  await instantiate(new Uint8Array(browserModule));
  const held = Snapshot.decode(readFixture('browser/gates.vxl'));
  const before = held.evaluate('actor_flag', { actors: ['User:1'] });
  for (const { name, bytes } of loadSuites()) {
    assert.throws(
      () => Snapshot.decode(bytes),
      (e) => e instanceof SnapshotError && e.code === 'WRONG_AUDIENCE' && /^a full snapshot, but this build reads only browser snapshots \(an environment's \/browser\/ files; the full module reads both\) at byte \d+$/.test(e.message) && bytes[e.offset] === 0,
      name,
    );
  }
  assert.deepEqual(held.evaluate('actor_flag', { actors: ['User:1'] }), before);
  assert.equal(held.audience, 'browser');
});
