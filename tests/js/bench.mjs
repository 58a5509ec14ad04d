// The npm package's benchmarks (make bench-js), on workload W1 (crates/vexil-core/benches/support/w1.rs:
// 1,000 flags, 10 allow-listed users and a 25% rollout each, 10,000 users, 1,000,000
// pairs), through each library's public API, in one run:
//   - ns per evaluation: vexil isEnabled, GrowthBook, unleash-client, flagd-core; and vexil's
//     for one visitor's flags, a page's case;
//   - time to load W1; time from worker start to first evaluation in workerd;
//   - the edge bootstrap and evaluateAll, one call into wasm each. (What the browser
//     downloads is size.mjs's, bundled as apps ship it.)
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { Snapshot, loadVerifier } from 'vexil';
import { GrowthBookClient } from '@growthbook/growthbook';
import { FlagdCore } from '@openfeature/flagd-core';
import { Unleash } from 'unleash-client';
import { Miniflare } from 'miniflare';

const repo = new URL('../../', import.meta.url);
const w1 = new URL('target/w1/', repo);
// Generated once by the workload's own generator, which the Rust benchmarks share.
if (!existsSync(new URL('w1.vxl', w1)) || !existsSync(new URL('flagd.json', w1))) {
  execFileSync('cargo', ['run', '--quiet', '--release', '-p', 'vexil-core', '--all-features', '--example', 'w1', '--', w1.pathname], { cwd: repo.pathname, stdio: 'inherit' });
}
const spec = JSON.parse(readFileSync(new URL('spec.json', w1), 'utf8'));
const raw = readFileSync(new URL('pairs.bin', w1));
const pairs = new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
const flags = spec.flags.map((f) => f.name);
const users = Array.from({ length: spec.nUsers }, (_, i) => `User:${i}`);
const n = pairs.length / 2;

function nsPerOp(fn, rounds = 5) {
  const times = [];
  let sink = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) sink += fn(flags[pairs[2 * i]], users[pairs[2 * i + 1]]) ? 1 : 0;
    times.push(Number(process.hrtime.bigint() - t0) / n);
  }
  times.sort((a, b) => a - b);
  return { ns: times[Math.floor(times.length / 2)], enabled: sink / rounds };
}

function msPer(fn, rounds) {
  const times = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const results = {};
const bytes = readFileSync(new URL('w1.vxl', w1));
const signed = readFileSync(new URL('w1.signed.vxl', w1));
const key = readFileSync(new URL('w1.pub', w1), 'utf8').trim();
await loadVerifier();
// The first 50 decodes of a fresh process, as a page decodes (V8 runs new wasm in its
// baseline tier first), then 200 more, once the optimizing tier has the decoder.
results.decode_ms = msPer(() => Snapshot.decode(bytes).free(), 50);
results.decode_optimized_ms = msPer(() => Snapshot.decode(bytes).free(), 200);
results.decode_verify_ms = msPer(() => Snapshot.decode(signed, { publicKeys: [key] }).free(), 50);
const snap = Snapshot.decode(bytes);
results.vexil = nsPerOp((f, u) => snap.isEnabled(f, u));
// A page's case: many flags for its one visitor (W1's flags in its order, one user).
const visitor = users[7];
results.vexil_one_visitor = nsPerOp((f) => snap.isEnabled(f, visitor));

const gbPayload = JSON.parse(readFileSync(new URL('growthbook.json', w1), 'utf8'));
results.growthbook_load_ms = msPer(() => new GrowthBookClient().initSync({ payload: gbPayload }), 5);
const gb = new GrowthBookClient().initSync({ payload: gbPayload });
results.growthbook = nsPerOp((f, u) => gb.isOn(f, { attributes: { id: u } }), 3);

const flagdJson = readFileSync(new URL('flagd.json', w1), 'utf8');
const flagd = new FlagdCore();
results.flagd_load_ms = msPer(() => new FlagdCore().setConfigurations(flagdJson), 5);
flagd.setConfigurations(flagdJson);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
results.flagd = nsPerOp((f, u) => flagd.resolveBooleanEvaluation(f, false, { targetingKey: u }, quiet).value, 3);

const unleashData = JSON.parse(readFileSync(new URL('unleash.json', w1), 'utf8'));
const unleash = new Unleash({
  url: 'http://127.0.0.1:9/api',
  appName: 'bench',
  disableMetrics: true,
  disableAutoStart: true,
  refreshInterval: 0,
  bootstrap: { data: unleashData.features },
  bootstrapOverride: true,
});
unleash.on('error', () => {});
await unleash.start().catch(() => {});
await new Promise((r) => (unleash.isSynchronized() ? r() : unleash.once('synchronized', r)));
results.unleash = nsPerOp((f, u) => unleash.isEnabled(f, { userId: u }), 3);
unleash.destroy();

// Agreement check: every allow-listed (flag, user) pair must be on in all four.
for (const f of spec.flags.slice(0, 50)) {
  for (const u of f.allow) {
    const all = [snap.isEnabled(f.name, u), gb.isOn(f.name, { attributes: { id: u } }), flagd.resolveBooleanEvaluation(f.name, false, { targetingKey: u }, quiet).value, unleash.isEnabled(f.name, { userId: u })];
    if (all.some((x) => !x)) throw new Error(`${f.name} ${u}: ${all}`);
  }
}

// Edge bootstrap: every client-side flag (all 1,000 in W1) for one visitor, as a worker
// computes it per page. Node runs the same V8 and wasm as workerd, whose clocks stand still
// while a request runs, so it is timed here.
{
  const users = Array.from({ length: 200 }, (_, i) => `User:${(i * 37) % spec.nUsers}`);
  const rounds = [];
  for (let r = 0; r < 9; r++) {
    const t0 = process.hrtime.bigint();
    for (const u of users) snap.bootstrap({ actors: [u] });
    rounds.push(Number(process.hrtime.bigint() - t0) / 1e3 / users.length);
  }
  const withProps = [];
  for (let r = 0; r < 9; r++) {
    const t0 = process.hrtime.bigint();
    for (const u of users) snap.bootstrap({ actors: [{ id: u, properties: { plan: 'gold', email: 'visitor@example.com' } }] });
    withProps.push(Number(process.hrtime.bigint() - t0) / 1e3 / users.length);
  }
  // evaluateAll: every flag's decision with its reason, what a client's subscribers get.
  const all = [];
  for (let r = 0; r < 9; r++) {
    const t0 = process.hrtime.bigint();
    for (const u of users) snap.evaluateAll({ actors: [u] });
    all.push(Number(process.hrtime.bigint() - t0) / 1e3 / users.length);
  }
  const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
  results.evaluate_all_us = median(all);
  const one = snap.bootstrap({ actors: ['User:1'] });
  if (Object.keys(one.flags).length !== spec.flags.length) throw new Error('W1 flags are all client-side');
  const json = JSON.stringify(one);
  results.bootstrap_us = median(rounds);
  results.bootstrap_props_us = median(withProps);
  results.bootstrap_json_bytes = json.length;
  results.bootstrap_json_gzip = gzipSync(json, { level: 9 }).length;
}

// workerd: from a new worker to its first answer, against a worker that does nothing.
async function firstAnswer(script, modules) {
  const t0 = process.hrtime.bigint();
  const mf = new Miniflare({ modules: [{ type: 'ESModule', path: '/w/worker.js', contents: script }, ...modules], modulesRoot: '/w', compatibilityDate: '2025-01-01' });
  await (await mf.dispatchFetch('http://w/')).text();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await mf.dispose();
  return ms;
}
const pkgDir = new URL('node_modules/vexil/', import.meta.url);
const pkgModules = [{ type: 'ESModule', path: '/w/vexil', contents: "export * from './pkg/src/workerd.js';" }];
for (const dir of ['src', 'dist']) {
  for (const f of readdirSync(new URL(dir, pkgDir))) {
    const file = new URL(`${dir}/${f}`, pkgDir);
    if (f.endsWith('.wasm')) pkgModules.push({ type: 'CompiledWasm', path: `/w/pkg/${dir}/${f}`, contents: readFileSync(file) });
    else if (f.endsWith('.js') && !/^openfeature-(web|server)\.js$/.test(f)) pkgModules.push({ type: 'ESModule', path: `/w/pkg/${dir}/${f}`, contents: readFileSync(file, 'utf8') });
  }
}
pkgModules.push({ type: 'Data', path: '/w/w1.vxl', contents: bytes });
const vexilWorker = "import { Snapshot } from './vexil'; import data from './w1.vxl'; const s = Snapshot.decode(new Uint8Array(data)); export default { fetch() { return new Response(String(s.isEnabled('flag_0001', 'User:1'))); } };";
const baseline = "export default { fetch() { return new Response('ok'); } };";
const cold = [];
for (let i = 0; i < 5; i++) cold.push([await firstAnswer(baseline, []), await firstAnswer(vexilWorker, pkgModules)]);
cold.sort((a, b) => a[1] - a[0] - (b[1] - b[0]));
results.workerd_first_answer_ms = cold[2][1];
results.workerd_baseline_ms = cold[2][0];

const ratio = (x) => `${(x / results.vexil.ns).toFixed(1)}×`;
console.log(`W1 through each public API (Node ${process.versions.node}), median of rounds over 1,000,000 pairs:`);
console.log(`  vexil isEnabled        ${results.vexil.ns.toFixed(0)} ns (${results.vexil_one_visitor.ns.toFixed(0)} ns for one visitor's flags)`);
console.log(`  GrowthBook isOn        ${results.growthbook.ns.toFixed(0)} ns  (${ratio(results.growthbook.ns)} vexil)`);
console.log(`  flagd-core resolve     ${results.flagd.ns.toFixed(0)} ns  (${ratio(results.flagd.ns)})`);
console.log(`  unleash-client         ${results.unleash.ns.toFixed(0)} ns  (${ratio(results.unleash.ns)})`);
console.log(`load W1: vexil decode ${results.decode_ms.toFixed(2)} ms (${results.decode_optimized_ms.toFixed(2)} ms once optimized; ${results.decode_verify_ms.toFixed(2)} ms with signature check); GrowthBook ${results.growthbook_load_ms.toFixed(1)} ms; flagd-core ${results.flagd_load_ms.toFixed(1)} ms`);
console.log(`edge bootstrap, 1,000 client-side flags for one visitor: ${results.bootstrap_us.toFixed(0)} µs (${results.bootstrap_props_us.toFixed(0)} µs with properties); result ${results.bootstrap_json_bytes} bytes JSON, ${results.bootstrap_json_gzip} gzip -9`);
console.log(`evaluateAll, 1,000 flags with reasons for one visitor: ${results.evaluate_all_us.toFixed(0)} µs`);
console.log(`workerd, new worker to first answer: ${results.workerd_first_answer_ms.toFixed(0)} ms with vexil and W1 (empty worker: ${results.workerd_baseline_ms.toFixed(0)} ms)`);
console.log(JSON.stringify(results));
