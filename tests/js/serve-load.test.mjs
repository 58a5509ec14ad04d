// Load: 1,000 event-stream subscribers held for a minute while snapshots are fetched as fast
// as one client can, and a change is committed every few seconds. Every subscriber must
// receive every event, in order; the server's memory must stay flat.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync, mkdtempSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { VEXIL, startServe, until, vexil } from './vexil-serve.mjs';

const SUBSCRIBERS = 1000;
const SECONDS = Number(process.env.VEXIL_LOAD_SECONDS ?? 60);
const run = promisify(execFile);

function rss(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(status.match(/VmRSS:\s+(\d+) kB/)[1]) * 1024;
}

function subscribe(agent, port) {
  const sub = { ids: [], open: false, closed: false, buffer: '' };
  const req = http.get({ host: '127.0.0.1', port, path: '/dev/events', agent, headers: { Accept: 'text/event-stream' } }, (res) => {
    sub.open = res.statusCode === 200;
    res.setEncoding('utf8');
    res.on('data', (chunk) => {
      sub.buffer += chunk;
      let end;
      while ((end = sub.buffer.indexOf('\n\n')) >= 0) {
        const event = sub.buffer.slice(0, end);
        sub.buffer = sub.buffer.slice(end + 2);
        const id = event.match(/^id: (\d+)$/m);
        if (id) sub.ids.push(Number(id[1]));
      }
    });
    res.on('close', () => (sub.closed = true));
  });
  req.on('error', () => (sub.closed = true));
  sub.request = req;
  return sub;
}

test(`${SUBSCRIBERS} subscribers for ${SECONDS} s receive every event while snapshots are fetched`, { timeout: (SECONDS + 120) * 1000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vexil-load-'));
  vexil(dir, 'init', '.');
  const server = await startServe(dir);
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const subs = [];
  try {
    for (let i = 0; i < SUBSCRIBERS; i++) subs.push(subscribe(agent, server.port));
    await until(() => subs.every((s) => s.ids.length === 1), 30000, 'every subscriber connected');
    const start = subs[0].ids[0];

    // Snapshot readers: eight requests in flight at all times, half of them revalidating.
    let fetched = 0;
    let notModified = 0;
    let stop = false;
    let etag = null;
    const readers = Array.from({ length: 8 }, async (_, i) => {
      while (!stop) {
        const res = await fetch(`${server.base}/dev/latest.vxl`, { headers: i % 2 && etag ? { 'If-None-Match': etag } : {} });
        await res.arrayBuffer();
        if (res.status === 304) notModified++;
        else if (res.status === 200) etag = res.headers.get('ETag');
        else throw new Error(`latest.vxl: HTTP ${res.status}`);
        fetched++;
      }
    });

    const samples = [];
    const began = Date.now();
    let changes = 0;
    while (Date.now() - began < SECONDS * 1000) {
      await run(VEXIL, ['feature', 'set', 'new_navigation_bar', changes % 2 ? 'false' : 'true', '--dev'], { cwd: dir });
      changes++;
      samples.push({ at: Date.now() - began, rss: rss(server.pid) });
      await new Promise((r) => setTimeout(r, 2500));
    }
    stop = true;
    await Promise.all(readers);
    const end = start + changes;
    await until(() => subs.every((s) => s.ids.at(-1) === end), 30000, 'every subscriber got the last event');

    const expected = Array.from({ length: changes + 1 }, (_, i) => start + i);
    const short = subs.filter((s) => s.ids.length !== expected.length || s.ids.some((id, i) => id !== expected[i]));
    assert.equal(short.length, 0, `${short.length} subscribers missed or reordered events; first: ${short[0]?.ids}`);
    assert.ok(subs.every((s) => s.open && !s.closed), 'every stream stayed open');

    // Memory: the last quarter of the run against the first quarter after warm-up.
    const q = Math.max(1, Math.floor(samples.length / 4));
    const early = Math.max(...samples.slice(1, 1 + q).map((s) => s.rss));
    const late = Math.max(...samples.slice(-q).map((s) => s.rss));
    const seconds = (Date.now() - began) / 1000;
    console.log(
      `${SUBSCRIBERS} subscribers × ${changes} events, all delivered in order; ` +
        `${fetched} snapshot GETs (${notModified} × 304) in ${seconds.toFixed(0)} s; ` +
        `server RSS ${(early / 2 ** 20).toFixed(1)} MiB early, ${(late / 2 ** 20).toFixed(1)} MiB late`,
    );
    assert.ok(late <= early * 1.25 + 4 * 2 ** 20, `server memory grew from ${early} to ${late} bytes`);
  } finally {
    for (const s of subs) s.request.destroy();
    agent.destroy();
    await server.stop();
  }
});
