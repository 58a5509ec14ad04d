// The guarded-rollout benchmark (results in the README): from a breach becoming visible in
// Prometheus to the rollback committed by a driving `vexil serve`, and to a subscribed SDK
// client holding the rolled-back snapshot. Five runs of guarded-rollout.mjs's scenario:
// Prometheus scraping every second, guards checked every second.
//
//   make bench-rollout
import { guardedRollout } from './guarded-rollout.mjs';

const RUNS = Number(process.env.RUNS ?? 5);
const committed = [];
const client = [];
for (let i = 0; i < RUNS; i++) {
  const r = await guardedRollout();
  if (r.status.status !== 'rolled_back') throw new Error(`run ${i + 1} did not roll back: ${r.status.status}`);
  committed.push(r.visibleToCommitted);
  client.push(r.visibleToClient);
  console.log(`run ${i + 1}: committed ${r.visibleToCommitted} ms, client ${r.visibleToClient} ms`);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`breach visible → rollback committed: median ${median(committed)} ms, max ${Math.max(...committed)} ms (${RUNS} runs)`);
console.log(`breach visible → subscribed client rolled back: median ${median(client)} ms, max ${Math.max(...client)} ms`);
