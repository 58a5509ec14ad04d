// Drives the real `vexil` binary: throwaway projects, and `vexil serve` on a free port on
// 127.0.0.1, stopped by PID.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));
export const VEXIL = process.env.VEXIL_BIN ?? join(repo, 'target/debug/vexil');

if (!existsSync(VEXIL)) throw new Error(`${VEXIL} is missing: build it with cargo build -p vexil-publisher (make test-js does)`);

/** Runs vexil in `dir`; returns stdout, throws with stderr on failure. */
export function vexil(dir, ...args) {
  return execFileSync(VEXIL, args, { cwd: dir, env: { ...process.env, VEXIL_AUTHOR: 'Release Manager <rm@example.com>' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `vexil feature set FLAG ...args --ignore-feature-flag-consistency-check`. */
export function set(dir, flag, ...args) {
  return vexil(dir, 'feature', 'set', flag, ...args, '--ignore-feature-flag-consistency-check');
}

/** A project with a handful of flags in different states across environments. */
export function demoProject() {
  const dir = mkdtempSync(join(tmpdir(), 'vexil-serve-'));
  vexil(dir, 'init', '.');
  const define = (name, type, defaultEnabled, extra = {}) => {
    mkdirSync(join(dir, 'config/feature_flags', type), { recursive: true });
    const lines = [
      '---',
      `name: ${name}`,
      'feature_issue_url:',
      `introduced_by_url: https://gitlab.example.com/org/app/-/merge_requests/${100 + name.length}`,
      `rollout_issue_url: ${extra.rollout ?? ''}`,
      `milestone: '${extra.milestone ?? '17.4'}'`,
      `group: ${extra.group ?? 'group::release'}`,
      `type: ${type}`,
      `default_enabled: ${defaultEnabled}`,
      ...(extra.clientSide ? ['client_side: true'] : []),
      '',
    ];
    writeFileSync(join(dir, 'config/feature_flags', type, `${name}.yml`), lines.join('\n'));
  };
  define('merge_trains_v2', 'gitlab_com_derisk', false, { group: 'group::pipeline execution', rollout: 'https://gitlab.example.com/org/app/-/issues/4821' });
  define('duo_chat_sidebar', 'beta', false, { group: 'group::duo chat', milestone: '17.5', clientSide: true });
  define('ci_job_token_scope', 'ops', true, { group: 'group::pipeline security' });
  define('vulnerability_report_v3', 'wip', false, { group: 'group::security insights', milestone: '17.6' });
  define('legacy_search_api', 'ops', false, { group: 'group::global search' });
  vexil(dir, 'publish');
  set(dir, 'merge_trains_v2', 'true', '--dev', '--staging');
  set(dir, 'merge_trains_v2', '25', '--actors', '--production');
  set(dir, 'duo_chat_sidebar', 'true', '--feature-group=gitlab_team_members', '--production');
  set(dir, 'duo_chat_sidebar', 'true', '--user=1,2,3', '--project=278964', '--production');
  set(dir, 'duo_chat_sidebar', 'true', '--dev');
  set(dir, 'ci_job_token_scope', 'false', '--pre');
  set(dir, 'new_navigation_bar', '50', '--actors', '--dev', '--staging');
  set(dir, 'legacy_search_api', 'true', '--production');
  set(dir, 'legacy_search_api', 'opt_out', '--user=42', '--production');
  return dir;
}

/** Starts `vexil serve` in `dir`; resolves once it accepts connections. */
export function startServe(dir, args = [], listen = '127.0.0.1:0') {
  const child = spawn(VEXIL, ['serve', '--listen', listen, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.on('exit', (code) => reject(new Error(`vexil serve exited with ${code}: ${out}`)));
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(/http:\/\/(127\.0\.0\.1:\d+)\//);
      if (m) {
        child.removeAllListeners('exit');
        resolve({
          base: `http://${m[1]}`,
          port: Number(m[1].split(':')[1]),
          pid: child.pid,
          stop: () => new Promise((r) => {
            if (child.exitCode !== null || child.signalCode !== null) return r();
            child.once('exit', () => r());
            process.kill(child.pid, 'SIGTERM');
          }),
        });
      }
    });
  });
}

/** Resolves when `predicate()` holds, polling; rejects after `ms`. */
export async function until(predicate, ms = 10000, what = 'condition') {
  const start = Date.now();
  for (;;) {
    if (await predicate()) return;
    if (Date.now() - start > ms) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
