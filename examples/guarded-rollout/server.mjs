// A service whose requests and errors are counted by the state of a flag for the user asking
// — `http_requests_total{flag_state="on"|"off"}` and `http_request_errors_total{…}` with
// prom-client — so a vexil rollout's guard compares the error ratio of the flag's two sides
// in the team's own Prometheus. Every evaluation is also counted by flag, result and reason
// through the SDK's `onEvaluation` (`vexil_flag_evaluations_total`).
//
//   VEXIL_URL=http://127.0.0.1:8417/staging PORT=9464 node server.mjs
//
// GET /?user=42 serves a page; GET /metrics is Prometheus's; GET /admin/error-rate?on=0.3
// makes that share of the new code path's requests fail (the bug a rollout should catch).
// LOAD=50 sends the service that many requests a second from random users (for the demo).
import http from 'node:http';
import client from 'prom-client';
import { createClient } from 'vexil';

const FLAG = process.env.FLAG ?? 'new_navigation_bar';
const PORT = Number(process.env.PORT ?? 9464);
const LOAD = Number(process.env.LOAD ?? 0);
let failingShare = Number(process.env.ERROR_RATE_ON ?? 0);

const registry = new client.Registry();
const counter = (name, help, labelNames) => new client.Counter({ name, help, labelNames, registers: [registry] });
const requests = counter('http_requests_total', 'Requests served, by the state of the flag for their user', ['flag_state']);
const errors = counter('http_request_errors_total', 'Requests failed, by the state of the flag for their user', ['flag_state']);
const evaluations = counter('vexil_flag_evaluations_total', 'Flag evaluations by flag, result and reason', ['flag', 'enabled', 'reason']);
// Both sides exist from the start, at zero: a guard reads 0 errors rather than no data.
for (const side of ['on', 'off']) {
  requests.inc({ flag_state: side }, 0);
  errors.inc({ flag_state: side }, 0);
}

const flags = createClient({
  url: process.env.VEXIL_URL ?? 'http://127.0.0.1:8417/production',
  live: true,
  pollInterval: 1000,
  onEvaluation: (e) => evaluations.inc({ flag: e.flag, enabled: String(e.enabled), reason: e.reason }),
});
// Until the first snapshot arrives every user gets the old code path.
flags.ready.catch(() => {});
flags.on('error', (e) => console.error(`vexil: ${e.message}`));

let failed = 0;
let served = 0;
function page(user) {
  const on = flags.snapshot !== null && flags.isEnabled(FLAG, `User:${user}`);
  const side = on ? 'on' : 'off';
  requests.inc({ flag_state: side });
  // Deterministic rather than random: exactly the share asked for fails.
  if (on && failingShare > 0 && (++served * failingShare) - failed >= 1) {
    failed += 1;
    errors.inc({ flag_state: side });
    return { status: 500, body: 'the new navigation bar failed\n' };
  }
  return { status: 200, body: on ? 'new navigation bar\n' : 'old navigation bar\n' };
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname === '/metrics') {
    res.setHeader('Content-Type', registry.contentType);
    res.end(await registry.metrics());
  } else if (url.pathname === '/admin/error-rate') {
    failingShare = Math.min(1, Math.max(0, Number(url.searchParams.get('on') ?? 0)));
    res.end(`requests with ${FLAG} on now fail at ${failingShare}\n`);
  } else {
    const { status, body } = page(url.searchParams.get('user') ?? 'anonymous');
    res.statusCode = status;
    res.end(body);
  }
});
server.listen(PORT, '127.0.0.1', () => console.log(`guarded-rollout example on http://127.0.0.1:${server.address().port}/`));

if (LOAD > 0) {
  setInterval(() => {
    for (let i = 0; i < LOAD / 10; i++) page(String(Math.floor(Math.random() * 100000)));
  }, 100);
}

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    flags.close();
    server.close(() => process.exit(0));
  });
}
