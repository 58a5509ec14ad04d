// Node: the public API beyond the vectors — typed errors for bad, forged, unsigned,
// wrong-key, oversized and future snapshots; the client's sources, ETags, live updates,
// rollback protection and subscriptions; flags(), evaluateAll().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { Snapshot, SnapshotError, createClient, loadVerifier } from 'vexil';
import { readFixture } from './load-vectors.mjs';

const gates = readFixture('gates.vxl');
const v1 = readFixture('signed/gates-v1.signed.vxl');
const v2 = readFixture('signed/gates-v2.signed.vxl');
const v3 = readFixture('signed/gates-v3.on-flag-off.signed.vxl');
const otherKey = readFixture('signed/gates-v1.other-key.vxl');
const key = new TextDecoder().decode(readFixture('signed/key.pub')).trim();
// These origins serve the signed gates fixtures without freshness statements (the attack
// suite, attacks.test.mjs, covers those).
const signed = { publicKeys: [key], environment: 'vectors-gates', audience: 'server', freshness: false };

function throwsCode(fn, code) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof SnapshotError, `${e}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

test('evaluation API', () => {
  const s = Snapshot.decode(gates);
  assert.equal(s.version, 1);
  assert.equal(s.environment, 'vectors-gates');
  assert.equal(s.audience, 'server');
  assert.equal(s.isEnabled('on_flag'), true);
  assert.equal(s.isEnabled('actor_flag', 'User:1'), true);
  assert.equal(s.isEnabled('actor_flag', 'User:2'), false);
  assert.equal(s.isEnabled('actor_flag', 'Üser:ß'), true, 'non-ASCII ids take the encodeInto path');
  assert.equal(s.isEnabled('no_such_flag', 'User:1'), false);
  assert.deepEqual(s.evaluate('no_such_flag'), { enabled: false, reason: 'not_found', version: 1 });
  // Flag indexes are cached in a dictionary object: names of Object.prototype's members are
  // flags like any other.
  for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
    assert.deepEqual(s.evaluate(name), { enabled: false, reason: 'not_found', version: 1 }, name);
    assert.equal(s.has(name), false, name);
  }
  assert.throws(() => s.isEnabled(42), /a flag name is a string/);
  // An audience alone is checked against the snapshot's own environment (read back out of wasm).
  assert.equal(Snapshot.decode(readFixture('gates.vxl'), { audience: 'server' }).environment, 'vectors-gates');
  assert.throws(() => Snapshot.decode(readFixture('gates.vxl'), { audience: 'browser' }), (e) => e.code === 'WRONG_AUDIENCE');
  assert.deepEqual(s.evaluate('group_flag', { actors: [{ id: 'User:5', properties: { team: 'gitlab' } }] }), {
    enabled: true,
    reason: 'group',
    version: 1,
  });
  assert.equal(s.evaluate('time_flag', { random: 0.2 }).enabled, true);
  assert.equal(s.evaluate('time_flag', { random: 0.3 }).enabled, false);
  const all = s.evaluateAll({ actors: ['User:1'] });
  assert.equal(Object.keys(all).length, s.flags().length);
  assert.equal(all.actor_flag.reason, 'actor');
  const flags = s.flags();
  assert.deepEqual(flags.find((f) => f.name === 'on_flag'), {
    name: 'on_flag',
    type: 'development',
    defaultEnabled: false,
    clientSide: false,
    persisted: true,
    state: 'on',
  });
  assert.throws(() => s.isEnabled('on_flag', 42), TypeError);
  assert.throws(() => s.evaluate('on_flag', { actors: [{ id: 'User:1', properties: { x: {} } }, 'User:2'] }), TypeError);
  assert.throws(() => s.evaluateAll({ actors: [{ id: 'User:1', properties: { x: {} } }] }), TypeError);
  assert.throws(() => s.evaluateAll({ actors: [42] }), /an actor is an id string/);
  assert.throws(() => s.evaluateAll({ actors: Array(65).fill('User:1') }), RangeError);
  // Ids and property names in a context carry 16-bit lengths: a longer one is refused, named,
  // rather than wrapped into another context.
  const long = `User:${'7'.repeat(70_000)}`;
  assert.throws(() => s.evaluate('actor_flag', { actors: [{ id: long }, 'User:1'] }), /the actor id "User:7+"… is 70005 bytes/);
  assert.throws(() => s.evaluateAll({ actors: [{ id: 'User:1', properties: { ['k'.repeat(65_536)]: 1 } }] }), /the property name "k+"… is 65536 bytes/);
  assert.equal(s.isEnabled('actor_flag', long), false, 'one id alone has a 32-bit length');
  s.free();
});

test('the random draw and the clock are taken for the flags that read them, and only for those', () => {
  const s = Snapshot.decode(readFixture('expressions.vxl'));
  const { random } = Math;
  const { now } = Date;
  const taken = [];
  Math.random = () => (taken.push('random'), 0.25);
  Date.now = () => (taken.push('clock'), 1_700_000_000_000);
  try {
    for (const flag of ['plan_is_gold', 'random_half', 'after_launch', 'plan_is_gold']) {
      taken.length = 0;
      s.isEnabled(flag, 'User:1');
      s.evaluate(flag, { actors: [{ id: 'User:1', properties: { plan: 'gold' } }] });
      const reads = { plan_is_gold: [], random_half: ['random', 'random'], after_launch: ['clock', 'clock'] }[flag];
      assert.deepEqual(taken, reads, flag);
    }
    // A draw the caller gives is used as given.
    assert.equal(s.evaluate('random_half', { random: 0.75 }).enabled, false);
    assert.equal(s.evaluate('random_half', { random: 0.25 }).enabled, true);
  } finally {
    Math.random = random;
    Date.now = now;
  }
  s.free();
});

test('an id already in wasm memory is not written again, and is once anything else was written there', () => {
  const s = Snapshot.decode(gates);
  const other = Snapshot.decode(readFixture('signed/gates-v2.signed.vxl'));
  const allowListed = () => assert.equal(s.isEnabled('actor_flag', 'User:1'), true);
  allowListed();
  // Each of these writes other bytes where the id was; the next call must write it again.
  const writers = {
    'a context with properties': () => s.evaluate('group_flag', { actors: [{ id: 'User:5', properties: { team: 'gitlab' } }, 'User:6'] }),
    'a snapshot decoded': () => Snapshot.decode(gates).free(),
    'a flag looked up for the first time': () => other.isEnabled('actor_flag'),
    'another id': () => assert.equal(s.isEnabled('actor_flag', 'User:2'), false),
    'a freshness statement checked': () => assert.throws(() => other.checkFreshness(new Uint8Array(64), { publicKeys: [key] })),
    'a text longer than the buffer held': () => s.isEnabled('actor_flag', `User:${'9'.repeat(5000)}`),
  };
  for (const [what, write] of Object.entries(writers)) {
    write();
    allowListed();
    assert.equal(s.isEnabled('actor_flag', 'User:2'), false, `after ${what}`);
    allowListed();
  }
  other.free();
  s.free();
});

test('bad bytes give typed errors and never crash', () => {
  throwsCode(() => Snapshot.decode(new Uint8Array(0)), 'BAD_MAGIC');
  throwsCode(() => Snapshot.decode(new TextEncoder().encode('<html>')), 'BAD_MAGIC');
  for (let n = 5; n < gates.length; n += 7) {
    assert.throws(() => Snapshot.decode(gates.subarray(0, n)), SnapshotError, `prefix ${n}`);
  }
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) & 0xff;
  for (let i = 0; i < 500; i++) {
    const noise = Uint8Array.from({ length: 1 + (i % 300) }, rand);
    if (i % 2 === 0) noise.set([0x56, 0x45, 0x58, 0x4c, 0x01].slice(0, noise.length));
    assert.throws(() => Snapshot.decode(noise), SnapshotError);
    const flipped = gates.slice();
    flipped[rand() % flipped.length] ^= 1 << (rand() % 8);
    try {
      Snapshot.decode(flipped).free();
    } catch (e) {
      assert.ok(e instanceof SnapshotError, `${e}`);
    }
  }
  const future = gates.slice();
  future[4] = 2;
  throwsCode(() => Snapshot.decode(future), 'VERSION_MISMATCH');
  assert.throws(() => Snapshot.decode(future), /format version 2 is not supported/);
  throwsCode(() => Snapshot.decode(new Uint8Array(64 * 1024 * 1024 + 1)), 'TOO_LARGE');
  assert.throws(() => Snapshot.decode('not bytes'), TypeError);
  // The module still works after all that.
  assert.equal(Snapshot.decode(gates).isEnabled('on_flag'), true);
});

test('signatures: unsigned, wrong key, forged', async () => {
  throwsCode(() => Snapshot.decode(v1, { publicKeys: [key] }), 'VERIFIER_NOT_LOADED');
  await loadVerifier();
  assert.equal(Snapshot.decode(v1, { publicKeys: [key] }).version, 1);
  assert.equal(Snapshot.decode(v1, { publicKeys: ['AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=', key] }).version, 1, 'rotation: any listed key');
  throwsCode(() => Snapshot.decode(gates, { publicKeys: [key] }), 'UNSIGNED');
  throwsCode(() => Snapshot.decode(otherKey, { publicKeys: [key] }), 'UNTRUSTED_KEY');
  for (const at of [10, 100, v1.length - 70, v1.length - 1]) {
    const forged = v1.slice();
    forged[at] ^= 4;
    assert.throws(() => Snapshot.decode(forged, { publicKeys: [key] }), SnapshotError, `byte ${at}`);
  }
  const body = v1.slice();
  body[40] ^= 1;
  try {
    Snapshot.decode(body);
  } catch {
    // a flip may also break the encoding itself; either way it is refused with keys
  }
  assert.throws(() => Snapshot.decode(body, { publicKeys: [key] }), SnapshotError);
  assert.ok(Snapshot.decode(v1).signer instanceof Uint8Array);
  // The signer comes back out of wasm through the module's output buffer: the key itself.
  assert.deepEqual(Snapshot.decode(v1).signer, Uint8Array.from(atob(key), (c) => c.charCodeAt(0)));
  assert.equal(Snapshot.decode(gates).signer, null);
  assert.throws(() => Snapshot.decode(v1, { publicKeys: ['short'] }), TypeError);
});

/** A tiny origin: serves `state.bytes` as latest.vxl with a strong ETag. */
async function origin(state) {
  const requests = [];
  const server = createServer((req, res) => {
    requests.push({ url: req.url, ifNoneMatch: req.headers['if-none-match'] });
    if (req.url !== '/production/latest.vxl') {
      res.writeHead(404).end();
      return;
    }
    const etag = `"${state.version}-${state.bytes.length}"`;
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { ETag: etag }).end();
      return;
    }
    res.writeHead(200, { ETag: etag, 'Content-Type': 'application/octet-stream' }).end(Buffer.from(state.bytes));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}/production`, requests, close: () => server.close() };
}

test('client: url source, ETags, live updates, rollback protection, subscriptions', async () => {
  await loadVerifier();
  const state = { bytes: v1, version: 1 };
  const o = await origin(state);
  const client = createClient({ url: o.url, ...signed, live: true, pollInterval: 20 });
  await client.ready;
  assert.equal(client.version, 1);
  assert.equal(client.isEnabled('on_flag'), true);
  const errors = [];
  client.on('error', (e) => errors.push(e.code));
  const changes = [];
  client.subscribe({ actors: ['User:1'] }, (changed, decisions) => changes.push({ changed, on: decisions.on_flag.enabled }));
  const waitFor = async (cond) => {
    for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(cond());
  };
  await waitFor(() => o.requests.some((r) => r.ifNoneMatch));

  state.bytes = v3;
  state.version = 3;
  await waitFor(() => client.version === 3);
  assert.equal(client.isEnabled('on_flag'), false);
  assert.deepEqual(changes, [{ changed: ['on_flag'], on: false }]);

  // An older snapshot is refused; a forged one too; the current one stays.
  state.bytes = v2;
  state.version = 2;
  await waitFor(() => errors.includes('OLDER_VERSION'));
  const forged = v3.slice();
  forged[forged.length - 3] ^= 1;
  state.bytes = forged;
  state.version = 4;
  await waitFor(() => errors.includes('BAD_SIGNATURE'));
  state.bytes = new TextEncoder().encode('<html>502 Bad Gateway</html>');
  state.version = 5;
  await waitFor(() => errors.includes('BAD_MAGIC'));
  assert.equal(client.version, 3);
  assert.equal(client.isEnabled('on_flag'), false);
  assert.equal(changes.length, 1);
  client.close();
  o.close();
});

test('client: bytes and KV sources, failures', async () => {
  const fromBytes = createClient({ bytes: gates });
  assert.equal(fromBytes.isEnabled('on_flag'), true, 'synchronous from bytes');
  const kv = { get: async (k, type) => (k === 'latest.vxl' && type === 'arrayBuffer' ? gates.buffer.slice(gates.byteOffset, gates.byteOffset + gates.length) : null) };
  const fromKv = createClient({ kv });
  await fromKv.ready;
  assert.equal(fromKv.isEnabled('on_flag'), true);
  const missing = createClient({ kv, key: 'nope.vxl' });
  await assert.rejects(missing.ready, /no snapshot/);
  assert.throws(() => missing.isEnabled('on_flag'), (e) => e.code === 'NOT_READY');
  const down = createClient({ url: 'http://127.0.0.1:9/production' });
  await assert.rejects(down.ready);
  assert.throws(() => createClient({}), TypeError);
  assert.throws(() => createClient({ bytes: gates, url: 'x' }), TypeError);
  // A client follows one environment: a newer snapshot of another one is refused.
  const errors = [];
  fromBytes.on('error', (e) => errors.push(e.code));
  assert.equal(fromBytes.offer(readFixture('gitlab.vxl')), false);
  assert.deepEqual(errors, ['WRONG_ENVIRONMENT']);
  assert.equal(fromBytes.snapshot.environment, 'vectors-gates');
});

test('client: onEvaluation reports every evaluation with its reason', () => {
  const seen = [];
  const client = createClient({ bytes: gates, onEvaluation: (e) => seen.push(e) });
  assert.equal(client.isEnabled('on_flag'), true);
  assert.equal(client.isEnabled('actor_flag', 'User:1'), createClient({ bytes: gates }).isEnabled('actor_flag', 'User:1'));
  client.evaluate('off_flag');
  const all = client.evaluateAll();
  assert.deepEqual(seen.slice(0, 3).map((e) => [e.flag, e.enabled, e.reason]), [
    ['on_flag', true, 'boolean'],
    ['actor_flag', client.evaluate('actor_flag', { actors: ['User:1'] }).enabled, seen[1].reason],
    ['off_flag', false, 'off'],
  ]);
  assert.equal(seen[0].version, 1);
  assert.ok(Object.keys(all).every((f) => seen.some((e) => e.flag === f)), 'each flag of evaluateAll');
  // A throwing callback never breaks evaluation: it is an 'error' event.
  const errors = [];
  const bad = createClient({ bytes: gates, onEvaluation: () => { throw new Error('metrics down'); } });
  bad.on('error', (e) => errors.push(e.message));
  assert.equal(bad.isEnabled('on_flag'), true);
  assert.deepEqual(errors, ['metrics down']);
});


/** An origin serving v1, whose event stream misbehaves as `stream(res)` says; counts the
 * stream connections it was asked for and those still open. */
async function hostileOrigin(stream) {
  const seen = { streams: 0, open: 0 };
  const server = createServer((req, res) => {
    if (req.url === '/production/latest.vxl') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' }).end(Buffer.from(v1));
    } else if (req.url === '/production/events') {
      seen.streams += 1;
      seen.open += 1;
      res.on('close', () => (seen.open -= 1));
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      stream(res);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}/production`, seen, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}

test('live mode: malformed events back off and leave no connection behind; a silent stream is replaced', async () => {
  await loadVerifier();
  // Every event is garbage: the client must not reconnect at full speed, nor keep old bodies.
  const bad = await hostileOrigin((res) => res.write('event: snapshot\ndata: {not json\n\n'));
  const client = createClient({ url: bad.url, ...signed, live: true, pollInterval: 4000 });
  await client.ready;
  const errors = [];
  client.on('error', (e) => errors.push(e.code));
  await new Promise((r) => setTimeout(r, 3000));
  client.close();
  // 250, 500, 1000, 2000 ms of backoff: at most five streams in three seconds (it was twelve).
  assert.ok(bad.seen.streams <= 5, `${bad.seen.streams} streams in 3 s`);
  assert.ok(bad.seen.streams >= 2, 'it does retry');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(bad.seen.open, 0, 'every stream it opened is closed');
  assert.ok(errors.every((c) => c === 'FETCH_FAILED') && errors.length > 0, `${errors}`);
  await bad.close();

  // 500 reconnects, as fast as the backoff allows when capped at 1 ms: not one socket more
  // in this process, not one stream left open at the origin.
  const sockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
  const baseline = sockets();
  const many = await hostileOrigin((res) => res.end('event: snapshot\ndata: {not json\n\n'));
  const churn = createClient({ url: many.url, ...signed, live: true, pollInterval: 1 });
  await churn.ready;
  while (many.seen.streams < 500) await new Promise((r) => setTimeout(r, 20));
  churn.close();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(many.seen.open, 0, 'the origin holds no stream of the client');
  assert.ok(sockets() <= baseline + 1, `${sockets() - baseline} sockets more after 500 reconnects`);
  await many.close();

  // Headers, then nothing, not even heartbeats: a half-open connection.
  const silent = await hostileOrigin(() => {});
  const quiet = createClient({ url: silent.url, ...signed, live: true, idleTimeout: 300 });
  await quiet.ready;
  await new Promise((r) => setTimeout(r, 1500));
  quiet.close();
  assert.ok(silent.seen.streams >= 2, `the silent stream was replaced (${silent.seen.streams} streams)`);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(silent.seen.open, 0);
  await silent.close();

  // A line that never ends is refused before it eats the client's memory.
  const endless = await hostileOrigin((res) => {
    const chunk = 'x'.repeat(16 * 1024);
    const more = () => { if (!res.destroyed && res.write(chunk)) setImmediate(more); else if (!res.destroyed) res.once('drain', more); };
    res.write('data: ');
    more();
  });
  const flooded = createClient({ url: endless.url, ...signed, live: true, pollInterval: 4000 });
  const floodErrors = [];
  flooded.on('error', (e) => floodErrors.push(e.message));
  await flooded.ready;
  await new Promise((r) => setTimeout(r, 500));
  flooded.close();
  assert.ok(floodErrors.some((m) => /a line of more than/.test(m)), `${floodErrors}`);
  await endless.close();
});

test('a snapshot body larger than the core decodes is refused before it is read whole', async () => {
  const MAX_SNAPSHOT_BYTES = 64 << 20; // vexil_core::limits::MAX_SNAPSHOT_BYTES
  let sent = 0;
  const server = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    const chunk = Buffer.alloc(1 << 20, 1);
    const more = () => {
      while (!res.destroyed && sent <= MAX_SNAPSHOT_BYTES * 2) {
        sent += chunk.length;
        if (!res.write(chunk)) return res.once('drain', more);
      }
      res.end();
    };
    more();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const client = createClient({ url: `http://127.0.0.1:${server.address().port}/production` });
  const errors = [];
  client.on('error', (e) => errors.push(`${e.code} ${e.message}`));
  await assert.rejects(client.ready);
  assert.ok(errors.some((e) => /^FETCH_FAILED .*more than it may hold/.test(e)), `${errors}`);
  assert.ok(sent < MAX_SNAPSHOT_BYTES * 2, `the client stopped reading (${sent} bytes sent)`);
  client.close();
  server.closeAllConnections();
  server.close();
});
