// The guarded rollout of examples/guarded-rollout, end to end and for real: `vexil serve`
// driving the rollout, Debian's Prometheus scraping the example service (prom-client,
// counting requests and errors by flag state), load from random users, and an SDK client
// subscribed to the environment. The service's error rate rises mid-rollout; the guard
// breaches, the rollout rolls back, and the subscribed client sees the flag off.
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'vexil';
import { startServe, until, vexil } from './vexil-serve.mjs';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const example = join(repo, 'examples/guarded-rollout');
const FLAG = 'new_navigation_bar';
const GUARD = 'sum(rate(http_request_errors_total{flag_state="on"}[10s])) / clamp_min(sum(rate(http_requests_total{flag_state="on"}[10s])), 0.001)';

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

async function startPrometheus(dir, servicePort) {
  const port = await freePort();
  const config = readFileSync(join(example, 'prometheus.yml'), 'utf8').replace('127.0.0.1:9464', `127.0.0.1:${servicePort}`);
  writeFileSync(join(dir, 'prometheus.yml'), config);
  const child = spawn('prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'prometheus-data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  await until(async () => (await fetch(`${url}/-/ready`).catch(() => null))?.ok, 30000, 'prometheus ready');
  const value = async (query) => {
    const r = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(query)}`).catch(() => null);
    const body = r?.ok ? await r.json() : null;
    const v = body?.data?.result?.[0]?.value?.[1];
    return v === undefined ? null : Number(v);
  };
  return { url, value, stop: () => stop(child) };
}

/** Runs the scenario once; returns what it measured (ms) and what the project holds. */
export async function guardedRollout() {
  const dir = mkdtempSync(join(tmpdir(), 'vexil-guarded-'));
  const cleanup = [];
  try {
    vexil(dir, 'init', '.');
    mkdirSync(join(dir, 'config/rollouts'), { recursive: true });
    copyFileSync(join(example, 'config/rollouts', `${FLAG}.yml`), join(dir, 'config/rollouts', `${FLAG}.yml`));
    const servicePort = await freePort();
    const prometheus = await startPrometheus(dir, servicePort);
    cleanup.push(prometheus.stop);
    const toml = readFileSync(join(dir, 'vexil.toml'), 'utf8');
    writeFileSync(join(dir, 'vexil.toml'), `${toml}\n[rollouts]\nprometheus = "${prometheus.url}"\nmin_wait = "1s"\ncheck_interval = "1s"\ndrive = true\n`);
    const serve = await startServe(dir);
    cleanup.push(serve.stop);

    const service = spawn(process.execPath, [join(example, 'server.mjs')], {
      env: { ...process.env, VEXIL_URL: `${serve.base}/staging`, PORT: String(servicePort) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    cleanup.push(() => stop(service));
    await until(async () => (await fetch(`http://127.0.0.1:${servicePort}/metrics`).catch(() => null))?.ok, 10000, 'service up');
    let loading = true;
    const load = (async () => {
      while (loading) {
        await Promise.all(Array.from({ length: 8 }, () => fetch(`http://127.0.0.1:${servicePort}/?user=${Math.floor(Math.random() * 100000)}`).then((r) => r.text()).catch(() => null)));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    cleanup.push(async () => {
      loading = false;
      await load;
    });

    const watcher = createClient({ url: `${serve.base}/staging`, live: true });
    cleanup.push(() => watcher.close());
    await watcher.ready;
    const allOff = (s) => Array.from({ length: 200 }, (_, k) => `User:${k}`).every((a) => !s.isEnabled(FLAG, a));

    // The guard has data once Prometheus has scraped the service twice.
    await until(async () => (await prometheus.value(GUARD)) !== null, 30000, 'the guard readable');
    vexil(dir, 'rollout', 'start', FLAG);
    await until(async () => (await prometheus.value(`sum(rate(http_requests_total{flag_state="on"}[10s]))`)) > 0, 30000, 'traffic with the flag on');
    await until(async () => !allOff(watcher.snapshot), 10000, 'the watcher sees the first step');
    const seenOff = new Promise((resolve) => watcher.on('update', (s) => allOff(s) && resolve(Date.now())));

    await fetch(`http://127.0.0.1:${servicePort}/admin/error-rate?on=0.3`);
    let visible = null;
    await until(async () => {
      if ((await prometheus.value(GUARD)) > 0.05) visible = Date.now();
      return visible !== null;
    }, 30000, 'the breach visible in Prometheus');
    const clientOff = await seenOff;
    const status = JSON.parse(vexil(dir, 'rollout', 'status', FLAG, '--json'))[0];
    const rolledBack = status.events.find((e) => e.kind === 'rolled_back');
    const staging = JSON.parse(vexil(dir, 'feature', 'get', FLAG, '--staging', '--dev', '--json'));
    return {
      status,
      staging,
      visibleToCommitted: rolledBack ? rolledBack.at - visible : null,
      visibleToClient: clientOff - visible,
    };
  } finally {
    for (const f of cleanup.reverse()) await f();
    rmSync(dir, { recursive: true, force: true });
  }
}
