// End to end in headless Chromium: `vexil serve` on a project, the dashboard open, a
// `vexil feature set` in another process — the page and an SDK client in the page both see
// the change without a reload. Screenshots of the matrix and a flag page are saved in
// tests/js/artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { demoProject, startServe, set, vexil } from './vexil-serve.mjs';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const artifacts = new URL('./artifacts/', import.meta.url);
mkdirSync(artifacts, { recursive: true });

test('the dashboard shows every environment live, and a flag page evaluates in the page', async () => {
  const dir = demoProject();
  const server = await startServe(dir);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1360, height: 760 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // What the page loads, with the types browsers insist on (wasm streaming compilation
    // refuses anything but application/wasm; module scripts need a JavaScript type).
    for (const [path, type] of [['/www/app.js', 'text/javascript'], ['/www/style.css', 'text/css'], ['/www/index.html', 'text/html'], ['/pkg/src/browser.js', 'text/javascript'], ['/pkg/dist/vexil_bg.wasm', 'application/wasm']]) {
      const res = await fetch(`${server.base}${path}`);
      assert.equal(res.status, 200, path);
      assert.ok(res.headers.get('Content-Type').startsWith(type), `${path}: ${res.headers.get('Content-Type')}`);
    }
    // The server's content security policy must not cost the page anything it uses.
    await page.addInitScript(() => document.addEventListener('securitypolicyviolation', (e) => (window.cspViolations ??= []).push(`${e.violatedDirective} ${e.blockedURI}`)));
    await page.goto(`${server.base}/`);
    await page.waitForSelector('table.matrix tbody tr[data-flag="merge_trains_v2"]');
    await page.waitForFunction(() => document.getElementById('live').textContent === 'live');

    const cell = (flag, env) => page.getAttribute(`tr[data-flag="${flag}"] td[data-env="${env}"]`, 'data-state');
    assert.equal(await cell('merge_trains_v2', 'dev'), 'on');
    assert.equal(await cell('merge_trains_v2', 'production'), 'conditional');
    assert.match(await page.textContent('tr[data-flag="merge_trains_v2"] td[data-env="production"]'), /25% actors/);
    assert.equal(await cell('ci_job_token_scope', 'production'), 'default', 'nothing persisted: the YAML default');
    assert.equal(await cell('ci_job_token_scope', 'pre'), 'off');
    assert.equal(await cell('vulnerability_report_v3', 'staging'), 'default');
    await page.screenshot({ path: new URL('dashboard-matrix.png', artifacts).pathname, fullPage: true });

    // An SDK client of the page's own, subscribed for one actor.
    await page.evaluate(async () => {
      const { createClient } = await import('/pkg/src/browser.js');
      const client = createClient({ url: '/staging', live: true });
      await client.ready;
      window.seen = [];
      client.subscribe({ actors: ['User:1'] }, (changed, decisions) => window.seen.push({ changed, enabled: decisions.vulnerability_report_v3.enabled, version: client.version }));
      window.ownClient = client;
    });
    await page.waitForFunction(() => window.ownClient.streaming);

    const before = await page.evaluate(() => window.vexil.clients.get('staging').version);
    set(dir, 'vulnerability_report_v3', 'true', '--staging');
    await page.waitForFunction(() => document.querySelector('tr[data-flag="vulnerability_report_v3"] td[data-env="staging"]')?.dataset.state === 'on');
    await page.waitForFunction(() => window.seen.length > 0);
    const seen = await page.evaluate(() => window.seen);
    assert.deepEqual(seen, [{ changed: ['vulnerability_report_v3'], enabled: true, version: before + 1 }]);
    assert.equal(await page.evaluate(() => window.vexil.clients.get('staging').isEnabled('vulnerability_report_v3', 'User:99')), true);
    assert.match(await page.textContent('th[data-env="staging"] .version'), new RegExp(`v${before + 1}`));

    // Search narrows the matrix.
    await page.fill('#search', 'duo');
    assert.deepEqual(await page.$$eval('table.matrix tbody tr', (rows) => rows.map((r) => r.dataset.flag)), ['duo_chat_sidebar']);
    await page.fill('#search', '');

    // Audience: only duo_chat_sidebar is client-side (its definition says so).
    assert.equal(await page.textContent('tr[data-flag="duo_chat_sidebar"] .audience'), 'client-side');
    assert.equal(await page.textContent('tr[data-flag="legacy_search_api"] .audience'), 'server-only');
    await page.selectOption('#audience-filter', 'browser');
    assert.deepEqual(await page.$$eval('table.matrix tbody tr', (rows) => rows.map((r) => r.dataset.flag)), ['duo_chat_sidebar']);
    await page.selectOption('#audience-filter', '');

    // A flag's page: gates per environment, evaluate-as, and its change log.
    await page.click('a[href="#/flag/duo_chat_sidebar"]');
    await page.waitForSelector('ol.timeline li[data-version]');
    const production = await page.textContent('article.env-card[data-env="production"]');
    for (const text of ['User:1', 'Project:278964', 'gitlab_team_members']) assert.ok(production.includes(text), `${text} in ${production}`);
    assert.equal(await page.textContent('dl.definition .audience'), 'client-side');
    const result = (env) => page.getAttribute(`table.results tr[data-env="${env}"]`, 'data-enabled');
    await page.fill('#eval-actors', 'User:77');
    await page.fill('#eval-properties', '{"team": "gitlab"}');
    assert.equal(await result('production'), 'true', 'gitlab_team_members lets a team member in');
    assert.match(await page.textContent('table.results tr[data-env="production"]'), /group/);
    await page.fill('#eval-properties', '{"team": "marketing"}');
    assert.equal(await result('production'), 'false');
    assert.equal(await result('dev'), 'true');
    assert.ok((await page.$$('ol.timeline li[data-version]')).length >= 3);
    await page.fill('#eval-properties', '{"team": "gitlab"}');
    await page.screenshot({ path: new URL('dashboard-flag.png', artifacts).pathname, fullPage: true });

    // A change to this flag reaches the open flag page too.
    set(dir, 'duo_chat_sidebar', 'false', '--dev');
    await page.waitForFunction(() => document.querySelector('table.results tr[data-env="dev"]')?.dataset.enabled === 'false');
    assert.deepEqual(errors, []);
    assert.deepEqual(await page.evaluate(() => window.cspViolations ?? []), []);
  } finally {
    await browser.close();
    await server.stop();
  }
});

test('a rollout shows live on its flag page: steps, guard readings, the rollback', async () => {
  const dir = demoProject();
  // A guard that is healthy until the file `broken` appears; `vexil serve` drives.
  appendFileSync(join(dir, 'vexil.toml'), '\n[rollouts]\nmin_wait = "1s"\ncheck_interval = "1s"\ndrive = true\n');
  mkdirSync(join(dir, 'config/rollouts'), { recursive: true });
  writeFileSync(join(dir, 'config/rollouts/vulnerability_report_v3.yml'), [
    'steps:',
    '  - set: 50 --actors', '    environments: [dev, staging]', '    wait: 2s',
    '  - set: "true"', '    environments: [dev, staging]', '    wait: 30s',
    '  - set: "true"', '    environments: [production]', '    wait: 1s',
    'guards:',
    '  - name: end-to-end tests', '    command: test ! -f broken',
    'on_breach: rollback',
    'check_interval: 1s',
    '',
  ].join('\n'));
  const server = await startServe(dir);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    vexil(dir, 'rollout', 'start', 'vulnerability_report_v3');
    await page.goto(`${server.base}/`);
    await page.waitForSelector('tr[data-flag="vulnerability_report_v3"] .rollout-badge[data-rollout="running"]');
    await page.goto(`${server.base}/#/flag/vulnerability_report_v3`);
    await page.waitForSelector('#rollout ol.steps li[data-step="1"][data-state="done"]');
    // Step 2 is applied by the server after step 1's wait: the page sees it without a reload.
    await page.waitForSelector('#rollout ol.steps li[data-step="2"][data-state="done"]', { timeout: 15000 });
    assert.match(await page.textContent('#rollout ol.steps li[data-step="3"]'), /due in/);
    await page.waitForFunction(() => document.querySelectorAll('#rollout .guard svg.spark').length === 1);
    await page.screenshot({ path: new URL('dashboard-rollout.png', artifacts).pathname, fullPage: true });

    writeFileSync(join(dir, 'broken'), '');
    await page.waitForSelector('#rollout .rollout-badge.rolled_back', { timeout: 15000 });
    assert.match(await page.textContent('#rollout .outcome'), /rolled back: breach|no data/);
    assert.ok(await page.$('#rollout .guard.bad'), 'the failing guard stands out');
    await page.waitForFunction(() => document.querySelector('article.env-card[data-env="staging"]')?.dataset.state === 'off');
    await page.screenshot({ path: new URL('dashboard-rollout-rolled-back.png', artifacts).pathname, fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});


test('stale flags carry their reason and every flag its reference count; a cleaned-up flag is gone', async () => {
  const dir = demoProject();
  appendFileSync(join(dir, 'vexil.toml'), '\n[housekeeping]\nmilestone = "17.9"\n');
  writeFileSync(join(dir, 'config/feature_flags/beta/old_toggle.yml'),
    "---\nname: old_toggle\nrollout_issue_url: javascript:alert(document.cookie)\nmilestone: '17.1'\ngroup: group::release\ntype: beta\ndefault_enabled: false\n");
  set(dir, 'old_toggle', 'true', '--dev', '--staging', '--staging-ref', '--ops', '--pre', '--production');
  mkdirSync(join(dir, 'app'), { recursive: true });
  writeFileSync(join(dir, 'app/search.rb'), 'Feature.enabled?(:legacy_search_api)\n# legacy_search_api, again\n');
  const server = await startServe(dir);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.base}/`);
    await page.waitForSelector('tr[data-flag="old_toggle"] .stale-badge[data-stale~="milestone"]');
    assert.match(await page.getAttribute('tr[data-flag="old_toggle"] .stale-badge', 'title'), /introduced in 17\.1, more than 4 milestones before 17\.9/);
    assert.equal(await page.$('tr[data-flag="merge_trains_v2"] .stale-badge'), null, 'partly rolled out: not stale');
    assert.equal(await page.getAttribute('tr[data-flag="legacy_search_api"] .refs', 'data-refs'), '2');
    assert.equal(await page.getAttribute('tr[data-flag="old_toggle"] .refs', 'data-refs'), '0');
    await page.selectOption('#state-filter', 'stale');
    assert.deepEqual(await page.$$eval('table.matrix tbody tr', (rows) => rows.map((r) => r.dataset.flag)), ['old_toggle']);
    await page.screenshot({ path: new URL('dashboard-stale.png', artifacts).pathname, fullPage: true });

    await page.goto(`${server.base}/#/flag/old_toggle`);
    await page.waitForSelector('.housekeeping .stale-reasons li[data-rule="milestone"]');
    assert.equal(await page.$('a[href^="javascript"]'), null, 'a link from YAML that is not a web address is not a link');
    assert.match(await page.textContent('.housekeeping'), /vexil cleanup old_toggle/);

    vexil(dir, 'cleanup', 'old_toggle');
    await page.goto(`${server.base}/`);
    await page.waitForSelector('table.matrix tbody tr[data-flag="merge_trains_v2"]');
    assert.equal(await page.$('tr[data-flag="old_toggle"]'), null, 'cleaned up: gone from every environment');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});
