// The event-stream parser against its fuzzer (sse-fuzz.mjs), briefly and deterministically;
// the README records the long campaign.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverSentEvents } from './node_modules/vexil/src/sse.js';
import { fuzzSse } from './sse-fuzz.mjs';

test('event streams written every way the standard allows, cut anywhere, parse back exactly', async () => {
  const { cases } = await fuzzSse({ seed: 20261201, iterations: 3000 });
  assert.equal(cases, 3000);
});

test("the fuzzer's finding: a stream whose last blank line is a lone CR still ends its event", async () => {
  const body = new ReadableStream({
    start(c) {
      c.enqueue(new TextEncoder().encode('event: snapshot\rid: 7\rdata: {"version":7}\r\r'));
      c.close();
    },
  });
  const events = [];
  for await (const e of serverSentEvents(body)) events.push(e);
  assert.deepEqual(events, [{ type: 'snapshot', data: '{"version":7}', id: '7' }]);
});
