// Freshness over time, with the clock mocked (node:test's MockTimers, Date only: timers
// stay real) so that the fixtures' fixed expiry (2100-01-01) can be reached: a client whose
// statement expires turns `stale` and keeps answering; a live client on a quiet event
// stream re-reads the statement half-way to its expiry, and follows a newer version it
// names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createClient, loadVerifier } from 'vexil';
import { readFixture } from './load-vectors.mjs';

const EXPIRES = 4_102_444_800_000; // the fixtures' fresh statements: 2100-01-01
const KEY = new TextDecoder().decode(readFixture('signed/key.pub')).trim();

/** An origin for `production`: its current files, and how often each path was asked for. */
async function origin() {
  const served = { latest: 'production-v2.vxl', freshness: 'production-v2.fresh.vxf' };
  const asked = {};
  const server = createServer((req, res) => {
    asked[req.url] = (asked[req.url] ?? 0) + 1;
    if (req.url === '/production/latest.vxl') return res.end(Buffer.from(readFixture(`freshness/${served.latest}`)));
    if (req.url === '/production/freshness.vxf') return res.end(Buffer.from(readFixture(`freshness/${served.freshness}`)));
    if (req.url === '/production/v/3.vxl') return res.end(Buffer.from(readFixture('freshness/production-v3.vxl')));
    // A quiet stream: connected, no events, so only the renewal re-reads the statement.
    if (req.url === '/production/events') return res.writeHead(200, { 'content-type': 'text/event-stream' }).write(': quiet\n\n');
    res.writeHead(404).end();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const stop = () => {
    server.closeAllConnections();
    return new Promise((r) => server.close(r));
  };
  return { base: `http://127.0.0.1:${server.address().port}/production`, served, asked, stop };
}

const options = (url) => ({ url, publicKeys: [KEY], environment: 'production', audience: 'server', storage: null });

test('a client whose freshness statement has expired is stale and still answers', async (t) => {
  await loadVerifier();
  const o = await origin();
  t.mock.timers.enable({ apis: ['Date'], now: EXPIRES - 60_000 });
  const client = createClient(options(o.base));
  try {
    await client.ready;
    assert.equal(client.version, 2);
    assert.equal(client.stale, false);
    t.mock.timers.setTime(EXPIRES + 1);
    assert.equal(client.stale, true, 'past the statement’s expiry');
    assert.equal(client.isEnabled('on_flag'), true, 'a stale client keeps answering from what it holds');
  } finally {
    client.close();
    await o.stop();
  }
});

test('a live client re-reads its statement half-way to expiry, and follows the newer version it names', async (t) => {
  await loadVerifier();
  const o = await origin();
  // Four seconds from expiry, the renewal is due in two.
  t.mock.timers.enable({ apis: ['Date'], now: EXPIRES - 4_000 });
  const client = createClient({ ...options(o.base), live: true, pollInterval: 500 });
  const errors = [];
  client.on('error', (e) => errors.push(e.code));
  try {
    await client.ready;
    assert.equal(o.asked['/production/freshness.vxf'], 1);
    // The origin has moved on to version 3 without a word on the stream; its statement says so.
    o.served.freshness = 'production-v3.fresh.vxf';
    // performance.now() is the real clock (only Date is mocked).
    const started = performance.now();
    while (client.version !== 3 && performance.now() - started < 10_000) await new Promise((r) => setTimeout(r, 50));
    assert.equal(client.version, 3, `renewal took the version its statement named (asked: ${JSON.stringify(o.asked)}, errors: ${errors})`);
    assert.ok(performance.now() - started >= 1_500, 'not before half-way to expiry');
    assert.equal(o.asked['/production/freshness.vxf'] >= 2, true);
    assert.equal(o.asked['/production/v/3.vxl'], 1);
    assert.equal(client.isEnabled('on_flag'), false, 'version 3 turned on_flag off');
    // The renewed statement names a newer version than the one held: reported, then taken.
    assert.deepEqual(errors, ['ROLLBACK']);
  } finally {
    client.close();
    await o.stop();
  }
});
