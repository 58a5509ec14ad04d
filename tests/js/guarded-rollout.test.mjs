// examples/guarded-rollout under a real Prometheus and a driving `vexil serve`: a rising
// error rate with the flag on rolls the rollout back on every environment it changed, and
// a subscribed SDK client sees it (see guarded-rollout.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guardedRollout } from './guarded-rollout.mjs';

test('a rising error rate with the flag on rolls back, and clients see it', async () => {
  const r = await guardedRollout();
  assert.equal(r.status.status, 'rolled_back', JSON.stringify(r.status, null, 2));
  assert.match(r.status.reason, /guard `error ratio with the flag on` read/);
  const guard = r.status.guards[0];
  assert.equal(guard.readings.at(-1).healthy, false, 'decided on a bad reading');
  assert.ok(guard.readings.slice(0, -1).every((x) => x.healthy), 'every reading before it was healthy');
  for (const f of r.staging) assert.equal(f.state, 'off', `${f.environment}: ${JSON.stringify(f)}`);
  assert.ok(r.visibleToCommitted !== null && r.visibleToClient >= 0);
  console.log(`breach visible → rollback committed ${r.visibleToCommitted} ms, → subscribed client ${r.visibleToClient} ms`);
});
