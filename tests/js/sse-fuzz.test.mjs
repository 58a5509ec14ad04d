// The event-stream parser against its fuzzer (sse-fuzz.mjs), briefly and deterministically;
// the README records the long campaign.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzSse } from './sse-fuzz.mjs';

test('event streams written every way the standard allows, cut anywhere, parse back exactly', async () => {
  const { cases } = await fuzzSse({ seed: 20261201, iterations: 3000 });
  assert.equal(cases, 3000);
});
