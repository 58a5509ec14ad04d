// The vexil dashboard. Every state shown is computed in the page by the npm package's wasm
// core from the same snapshots SDKs load, kept live by `vexil serve`'s event stream; the
// server adds only what snapshots leave out (definition facts, gates with actor ids, the
// change log), behind its token.
//
// One SDK client per environment, all fed by the SDK's one stream for every environment
// (`/events`): a browser holds at most six HTTP/1.1 connections to an origin, and a project
// may have more environments than that.
import { ready, createClient, followEnvironments } from '/pkg/src/browser.js';

const app = {
  environments: [],
  definitions: new Map(),
  clients: new Map(),
  gates: new Map(),
  started: false,
  signatures: new Map(),
  problems: [],
  filter: { text: '', type: '', state: '', audience: '' },
  evaluateAs: { actors: 'User:1', properties: '{\n  "team": "gitlab"\n}' },
  rollouts: new Map(),
  rolloutSignature: '',
  // `vexil stale`'s reasons and `vexil refs`' counts, by flag.
  stale: new Map(),
  refs: new Map(),
  // The server's clock minus ours, so due times count down correctly.
  skew: 0,
};

// ---------------------------------------------------------------------------------------
// Data

async function api(path) {
  const res = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
  if (!res.ok) {
    const body = await res.text();
    let message = body;
    try {
      message = JSON.parse(body).error ?? body;
    } catch {}
    throw new Error(`${path}: HTTP ${res.status}: ${message}`);
  }
  return res.json();
}

async function loadGates(env) {
  app.gates.set(env, await api(`/${encodeURIComponent(env)}/state`));
}

async function start() {
  await ready();
  const defs = await api('/api/definitions');
  app.environments = defs.environments;
  app.problems = defs.problems;
  for (const d of defs.definitions) app.definitions.set(d.name, d);
  document.getElementById('project').textContent = `${app.definitions.size} flags · ${app.environments.length} environments`;
  await Promise.all(
    app.environments.map(async (env) => {
      const client = createClient({ url: `/${env}` });
      app.clients.set(env, client);
      client.on('update', (snapshot) => onUpdate(env, snapshot));
      await client.ready.catch(() => {});
      await loadGates(env);
    }),
  );
  follow();
  await pollRollouts();
  await pollHousekeeping();
  // For tests and the curious: the SDK clients the page evaluates with.
  window.vexil = { clients: app.clients, app };
  window.addEventListener('hashchange', () => render());
  for (const env of app.environments) changedCells(env);
  app.started = true;
  render();
  markVersions();
}

function markVersions() {
  document.body.dataset.versions = app.environments.map((e) => `${e}:${app.clients.get(e)?.version ?? 0}`).join(' ');
}

/** The flags of `env` whose state or gates differ from the last look. */
function changedCells(env) {
  const gates = app.gates.get(env)?.flags ?? {};
  const changed = new Set();
  for (const [name, f] of flagInfos(env)) {
    const signature = JSON.stringify([f, gates[name] ?? null]);
    const key = `${env}\0${name}`;
    if (app.signatures.has(key) && app.signatures.get(key) !== signature) changed.add(name);
    app.signatures.set(key, signature);
  }
  return changed;
}

let pending = Promise.resolve();
function onUpdate(env, snapshot) {
  // Updates are applied in order, each after its gates arrive, so a render never mixes versions.
  pending = pending.then(async () => {
    if (!app.started) return; // the first load, not a change
    try {
      await loadGates(env);
    } catch (e) {
      console.error(e);
    }
    render({ flash: env, version: snapshot.version, changed: changedCells(env) });
    markVersions();
  });
}

/**
 * Rollouts change without a new version (a guard reading, a pause), so they are polled each
 * second: the matrix re-renders when one moved, a flag page's rollout panel every time (its
 * countdown moves).
 */
async function pollRollouts() {
  try {
    const r = await api('/api/rollouts');
    app.skew = r.now - Date.now();
    const signature = JSON.stringify(r.rollouts);
    const moved = signature !== app.rolloutSignature;
    app.rolloutSignature = signature;
    app.rollouts = new Map(r.rollouts.map((v) => [v.flag, v]));
    const panel = document.getElementById('rollout');
    if (panel) panel.replaceChildren(...rolloutPanel(panel.dataset.flag));
    else if (moved && app.started) render();
  } catch (e) {
    console.error(e);
  }
  setTimeout(pollRollouts, 1000);
}

/** Stale flags and reference counts cost the server a walk of the repository: every 30 s. */
async function pollHousekeeping() {
  try {
    const r = await api('/api/housekeeping');
    app.stale = new Map(r.stale.stale.map((f) => [f.flag, f.reasons]));
    app.refs = new Map(Object.entries(r.references));
    if (app.started) render();
  } catch (e) {
    console.error(e);
  }
  setTimeout(pollHousekeeping, 30000);
}

/** Follows every environment over one stream, showing whether it is connected. */
function follow() {
  const live = document.getElementById('live');
  followEnvironments('', app.clients, {
    onLive: (connected) => {
      live.classList.toggle('streaming', connected);
      live.textContent = connected ? 'live' : 'reconnecting…';
    },
  });
}

// ---------------------------------------------------------------------------------------
// DOM helpers: text always goes in as text.

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    // Through the CSSOM: the content security policy refuses style attributes.
    else if (k === 'style') el.style.cssText = v;
    // Links come from YAML files: only web addresses become links.
    else if (k === 'href' && !/^(https?:\/\/|#)/i.test(String(v))) continue;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

function when(ms) {
  if (!ms) return '';
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

// ---------------------------------------------------------------------------------------
// Cells: one flag in one environment

function info(env, flag) {
  const snapshot = app.clients.get(env)?.snapshot;
  if (!snapshot) return null;
  return snapshot.flags().find((f) => f.name === flag) ?? null;
}

function flagInfos(env) {
  const snapshot = app.clients.get(env)?.snapshot;
  return new Map((snapshot?.flags() ?? []).map((f) => [f.name, f]));
}

/** 'browser' if any environment's newest snapshot marks the flag client-side, else 'server'. */
function audienceOf(name, infos) {
  return app.environments.some((e) => (infos ? infos.get(e) : flagInfos(e)).get(name)?.clientSide) ? 'browser' : 'server';
}

function audienceBadge(audience) {
  return audience === 'browser'
    ? h('span', { class: 'audience browser', title: 'client_side: in browser snapshots and edge bootstraps' }, 'client-side')
    : h('span', { class: 'audience server', title: 'servers and edge workers only' }, 'server-only');
}

function summary(g) {
  if (!g) return '';
  const parts = [];
  if (Number(g.percentage_of_actors) > 0) parts.push(`${g.percentage_of_actors}% actors`);
  if (Number(g.percentage_of_time) > 0) parts.push(`${g.percentage_of_time}% time`);
  if (g.actors.length) parts.push(`${g.actors.length} actor${g.actors.length === 1 ? '' : 's'}`);
  if (g.groups.length) parts.push(g.groups.join(', '));
  if (g.expression) parts.push('expression');
  if (g.opt_outs.length) parts.push(`${g.opt_outs.length} opted out`);
  return parts.join(' · ');
}

function chip(f, gates) {
  if (!f) return h('span', { class: 'empty' }, '—');
  if (!f.persisted) {
    const on = f.defaultEnabled;
    return h('span', { class: `chip ${on ? 'on' : 'off'} default`, title: 'Nothing persisted: the YAML default_enabled applies' }, h('i', { 'aria-hidden': 'true' }), `default ${on ? 'on' : 'off'}`);
  }
  const detail = f.state === 'conditional' ? summary(gates) : '';
  return h('span', { class: `chip ${f.state}`, title: detail || f.state }, h('i', { 'aria-hidden': 'true' }), f.state, detail ? h('span', { class: 'detail' }, ` · ${detail}`) : null);
}

function cellState(f) {
  if (!f) return 'none';
  return f.persisted ? f.state : 'default';
}

// ---------------------------------------------------------------------------------------
// Pages

function render(update) {
  const main = document.getElementById('main');
  const route = decodeURIComponent(location.hash.replace(/^#\/?/, ''));
  main.removeAttribute('aria-busy');
  const focused = document.activeElement?.id;
  main.replaceChildren(route.startsWith('flag/') ? flagPage(route.slice(5), update) : matrixPage(update));
  if (focused) {
    const el = document.getElementById(focused);
    if (el) {
      el.focus();
      if (el.setSelectionRange && typeof el.value === 'string') el.setSelectionRange(el.value.length, el.value.length);
    }
  }
}

function matrixPage(update) {
  const infos = new Map(app.environments.map((e) => [e, flagInfos(e)]));
  const names = [...new Set([...app.definitions.keys(), ...[...infos.values()].flatMap((m) => [...m.keys()])])].sort();
  const types = [...new Set(names.map((n) => app.definitions.get(n)?.type ?? infos.values().next().value?.get(n)?.type).filter(Boolean))].sort();
  const { text, type, state, audience } = app.filter;
  const needle = text.trim().toLowerCase();
  const shown = names.filter((name) => {
    const d = app.definitions.get(name);
    if (needle && ![name, d?.group, d?.milestone, d?.type].some((v) => v && String(v).toLowerCase().includes(needle))) return false;
    if (type && (d?.type ?? '') !== type) return false;
    if (state === 'stale') {
      if (!app.stale.has(name)) return false;
    } else if (state && !app.environments.some((e) => cellState(infos.get(e).get(name)) === state)) return false;
    if (audience && audienceOf(name, infos) !== audience) return false;
    return true;
  });

  const search = h('input', {
    type: 'search', id: 'search', placeholder: 'Search flags, groups, milestones…', value: text, 'aria-label': 'Search flags',
    oninput: (e) => { app.filter.text = e.target.value; render(); },
  });
  const typeSelect = h('select', { id: 'type-filter', 'aria-label': 'Type', onchange: (e) => { app.filter.type = e.target.value; render(); } },
    h('option', { value: '' }, 'All types'), types.map((t) => h('option', { value: t, selected: t === type }, t)));
  const stateSelect = h('select', { id: 'state-filter', 'aria-label': 'State', onchange: (e) => { app.filter.state = e.target.value; render(); } },
    [['', 'Any state'], ['on', 'On somewhere'], ['conditional', 'Conditional somewhere'], ['off', 'Off somewhere'], ['default', 'Default somewhere'], ['stale', 'Should go (stale)']]
      .map(([v, label]) => h('option', { value: v, selected: v === state }, label)));
  const audienceSelect = h('select', { id: 'audience-filter', 'aria-label': 'Audience', onchange: (e) => { app.filter.audience = e.target.value; render(); } },
    [['', 'Any audience'], ['browser', 'Client-side'], ['server', 'Server-only']]
      .map(([v, label]) => h('option', { value: v, selected: v === audience }, label)));

  const head = h('tr', {}, h('th', { scope: 'col' }, 'Flag'),
    app.environments.map((e) => h('th', { scope: 'col', class: update?.flash === e ? 'flash' : null, dataset: { env: e } }, e,
      h('span', { class: 'version' }, `v${app.clients.get(e)?.version ?? 0}`))));
  const rows = shown.map((name) => {
    const d = app.definitions.get(name);
    return h('tr', { dataset: { flag: name } },
      h('th', { scope: 'row' },
        h('a', { class: 'flag-name', href: `#/flag/${encodeURIComponent(name)}` }, name),
        h('div', { class: 'facts' },
          d ? h('span', { class: 'type' }, d.type) : h('span', { class: 'type' }, 'no definition'),
          audienceBadge(audienceOf(name, infos)),
          d?.milestone ? h('span', {}, `%${d.milestone}`) : null,
          d?.group ? h('span', {}, d.group) : null,
          d?.rollout_issue_url ? h('a', { href: d.rollout_issue_url, target: '_blank', rel: 'noopener' }, 'rollout issue') : null,
          rolloutBadge(app.rollouts.get(name)),
          staleBadge(name),
          refsCount(name))),
      app.environments.map((e) => {
        const f = infos.get(e).get(name);
        const gates = app.gates.get(e)?.flags?.[name];
        const flash = update?.flash === e && update.changed.has(name);
        return h('td', { class: flash ? 'changed' : null, dataset: { env: e, state: cellState(f) } }, chip(f, gates));
      }));
  });

  return h('section', { 'aria-label': 'Flags by environment' },
    app.problems.length ? h('p', { class: 'error' }, `${app.problems.length} definition problem(s): ${app.problems[0]}`) : null,
    h('div', { class: 'toolbar' }, search, typeSelect, stateSelect, audienceSelect, h('span', { class: 'count' }, `${shown.length} of ${names.length} flags`)),
    h('div', { class: 'matrix-wrap' },
      h('table', { class: 'matrix' }, h('thead', {}, head), h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: app.environments.length + 1, class: 'empty' }, 'No flag matches.'))))));
}

function flagPage(name, update) {
  const d = app.definitions.get(name);
  const section = h('section', { 'aria-label': `Flag ${name}` },
    h('div', { class: 'crumbs' }, h('a', { href: '#/' }, '← All flags')),
    h('h1', {}, name),
    d ? definition(d, audienceOf(name)) : h('p', { class: 'error' }, 'No definition file for this flag.'));

  if (app.stale.has(name) || app.refs.has(name)) {
    section.append(h('h2', {}, 'Housekeeping'));
    section.append(h('div', { class: 'housekeeping' },
      h('p', {}, refsCount(name) ?? 'References not counted.', ' ', h('code', {}, `vexil refs ${name}`), ' lists them.'),
      app.stale.has(name)
        ? h('ul', { class: 'stale-reasons' }, app.stale.get(name).map((r) => h('li', { dataset: { rule: r.rule } }, h('strong', {}, r.rule.replace('_', ' ')), `: ${r.message}`)))
        : h('p', {}, 'Not stale.'),
      app.stale.has(name) ? h('p', {}, 'When the code no longer names it: ', h('code', {}, `vexil cleanup ${name}`)) : null));
  }
  if (app.rollouts.has(name)) {
    section.append(h('h2', {}, 'Rollout'));
    section.append(h('div', { id: 'rollout', class: 'rollout', dataset: { flag: name }, 'aria-live': 'polite' }, ...rolloutPanel(name)));
  }
  section.append(h('h2', {}, 'Gates by environment'));
  section.append(h('div', { class: 'envs' }, app.environments.map((env) => envCard(env, name, update))));

  section.append(h('h2', {}, 'Evaluate as'));
  const results = h('tbody');
  const actors = h('input', { id: 'eval-actors', value: app.evaluateAs.actors, placeholder: 'User:1, Project:7', oninput: (e) => { app.evaluateAs.actors = e.target.value; fill(); } });
  const props = h('textarea', { id: 'eval-properties', spellcheck: 'false', oninput: (e) => { app.evaluateAs.properties = e.target.value; fill(); } }, app.evaluateAs.properties);
  const note = h('div', { class: 'hint', role: 'status' });
  function fill() {
    let properties = {};
    note.textContent = 'Properties are given to each actor; the result is computed here, by the same wasm core SDKs use.';
    try {
      properties = app.evaluateAs.properties.trim() ? JSON.parse(app.evaluateAs.properties) : {};
    } catch (e) {
      note.textContent = `Properties are not JSON: ${e.message}`;
    }
    const ids = app.evaluateAs.actors.split(',').map((s) => s.trim()).filter(Boolean);
    const context = { actors: ids.map((id) => ({ id, properties })) };
    results.replaceChildren(...app.environments.map((env) => {
      const client = app.clients.get(env);
      if (!client?.snapshot) return h('tr', {}, h('td', {}, env), h('td', { colspan: 3, class: 'empty' }, 'no snapshot'));
      let d;
      try {
        d = client.evaluate(name, context);
      } catch (e) {
        return h('tr', {}, h('td', {}, env), h('td', { colspan: 3, class: 'error' }, e.message));
      }
      return h('tr', { dataset: { env, enabled: String(d.enabled) } }, h('td', {}, env),
        h('td', {}, h('span', { class: `chip ${d.enabled ? 'on' : 'off'}` }, h('i', { 'aria-hidden': 'true' }), d.enabled ? 'enabled' : 'disabled')),
        h('td', { class: 'mono' }, d.reason), h('td', { class: 'mono' }, `v${d.version}`));
    }));
  }
  fill();
  section.append(h('div', { class: 'evaluate' },
    h('div', {}, h('label', { for: 'eval-actors' }, 'Actors (comma-separated ids)'), actors,
      h('label', { for: 'eval-properties', style: 'margin-top:0.6rem' }, 'Properties (JSON)'), props, note),
    h('table', { class: 'results' }, h('thead', {}, h('tr', {}, h('th', {}, 'Environment'), h('th', {}, 'Result'), h('th', {}, 'Reason'), h('th', {}, 'Version'))), results)));

  section.append(h('h2', {}, 'Change log'));
  const timeline = h('ol', { class: 'timeline', 'aria-live': 'polite' }, h('li', { class: 'empty' }, 'Loading…'));
  section.append(timeline);
  Promise.all(app.environments.map((env) => api(`/${encodeURIComponent(env)}/log?flag=${encodeURIComponent(name)}&limit=200`).then((r) => r.changes)))
    .then((lists) => {
      const changes = lists.flat().sort((a, b) => b.id - a.id);
      timeline.replaceChildren(...(changes.length ? changes.map(entry) : [h('li', { class: 'empty' }, 'No changes recorded.')]));
    })
    .catch((e) => timeline.replaceChildren(h('li', { class: 'error' }, e.message)));
  return section;
}

function definition(d, audience) {
  const link = (url) => (url ? h('a', { href: url, target: '_blank', rel: 'noopener' }, url) : h('span', { class: 'empty' }, '—'));
  return h('dl', { class: 'definition' },
    h('dt', {}, 'Type'), h('dd', {}, h('span', { class: 'type' }, d.type)),
    h('dt', {}, 'default_enabled'), h('dd', { class: 'mono' }, String(d.default_enabled)),
    h('dt', {}, 'Audience'), h('dd', {}, audienceBadge(audience)),
    h('dt', {}, 'Milestone'), h('dd', {}, d.milestone ?? '—'),
    h('dt', {}, 'Group'), h('dd', {}, d.group ?? '—'),
    h('dt', {}, 'Rollout issue'), h('dd', {}, link(d.rollout_issue_url)),
    h('dt', {}, 'Introduced by'), h('dd', {}, link(d.introduced_by_url)),
    h('dt', {}, 'Feature issue'), h('dd', {}, link(d.feature_issue_url)),
    h('dt', {}, 'Definition'), h('dd', { class: 'mono' }, d.path));
}

function envCard(env, name, update) {
  const f = info(env, name);
  const g = app.gates.get(env)?.flags?.[name];
  const version = app.clients.get(env)?.version ?? 0;
  const card = h('article', { class: `env-card${update?.flash === env ? ' flash' : ''}`, dataset: { env, state: cellState(f) } },
    h('header', {}, h('strong', {}, env), h('span', { class: 'version' }, `v${version}`), chip(f, g)));
  if (!f) return card;
  if (!f.persisted) {
    card.append(h('p', { class: 'gate' }, `Nothing persisted: default_enabled (${f.defaultEnabled}) applies.`));
    return card;
  }
  if (!g) return card;
  const gate = (label, ...body) => h('div', { class: 'gate' }, h('div', { class: 'gate-label' }, label), ...body);
  card.append(gate('Boolean', h('span', { class: 'mono' }, String(g.boolean))));
  const bar = (pct) => h('div', { class: 'bar', role: 'img', 'aria-label': `${pct}%` }, h('span', { style: `width:${Math.min(100, Number(pct))}%` }));
  if (Number(g.percentage_of_actors) > 0) card.append(gate(`Percentage of actors · ${g.percentage_of_actors}%`, bar(g.percentage_of_actors)));
  if (Number(g.percentage_of_time) > 0) card.append(gate(`Percentage of time · ${g.percentage_of_time}%`, bar(g.percentage_of_time)));
  if (g.actors.length) card.append(gate(`Actors · ${g.actors.length}`, h('div', { class: 'ids' }, g.actors.slice(0, 50).map((a) => h('code', {}, a)), g.actors.length > 50 ? h('span', {}, `+${g.actors.length - 50} more`) : null)));
  if (g.groups.length) card.append(gate('Groups', h('div', { class: 'ids' }, g.groups.map((a) => h('code', {}, a)))));
  if (g.opt_outs.length) card.append(gate(`Opted out · ${g.opt_outs.length}`, h('div', { class: 'ids' }, g.opt_outs.slice(0, 50).map((a) => h('code', { class: 'opt-out' }, a)))));
  if (g.expression) card.append(gate('Expression', h('pre', { class: 'expr' }, JSON.stringify(g.expression, null, 1))));
  return card;
}

// ---------------------------------------------------------------------------------------
// Rollouts

function rolloutBadge(r) {
  if (!r) return null;
  const done = r.steps.filter((x) => x.state === 'done').length;
  return h('a', { class: `rollout-badge ${r.status}`, href: `#/flag/${encodeURIComponent(r.flag)}`, dataset: { rollout: r.status } },
    `rollout ${r.status.replace('_', ' ')} · ${done}/${r.steps.length}`);
}

/** `vexil stale`'s verdict, its reasons in the tooltip. */
function staleBadge(name) {
  const reasons = app.stale.get(name);
  if (!reasons) return null;
  const rules = [...new Set(reasons.map((r) => r.rule))];
  return h('span', { class: 'stale-badge', title: reasons.map((r) => `${r.rule}: ${r.message}`).join('\n'), dataset: { stale: rules.join(' ') } },
    `stale: ${rules.map((r) => r.replace('_', ' ')).join(', ')}`);
}

function refsCount(name) {
  if (!app.refs.has(name)) return null;
  const n = app.refs.get(name);
  return h('span', { class: 'refs', dataset: { refs: String(n) } }, n === 1 ? '1 reference' : `${n} references`);
}

function duration(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

/** A guard's readings as a line against its threshold; missing readings leave gaps. */
function sparkline(guard) {
  const values = guard.readings.map((x) => x.value);
  const bound = Number((guard.threshold.match(/-?[\d.]+(?:e-?\d+)?/g) ?? []).at(-1));
  const known = values.filter((v) => v !== null && v !== undefined);
  const top = Math.max(...known, Number.isFinite(bound) ? bound : 0, 1e-9) * 1.15;
  const [w, hgt] = [260, 48];
  const x = (i) => (values.length < 2 ? w : (i / (values.length - 1)) * w);
  const y = (v) => hgt - (v / top) * hgt;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${hgt}`);
  svg.setAttribute('class', 'spark');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `${guard.name}: ${known.length} readings, threshold ${guard.threshold}`);
  if (Number.isFinite(bound)) {
    const line = document.createElementNS(ns, 'line');
    Object.entries({ x1: 0, x2: w, y1: y(bound), y2: y(bound), class: 'threshold' }).forEach(([k, v]) => line.setAttribute(k, v));
    svg.append(line);
  }
  let points = [];
  const flush = () => {
    if (points.length) {
      const pl = document.createElementNS(ns, 'polyline');
      pl.setAttribute('points', points.join(' '));
      svg.append(pl);
    }
    points = [];
  };
  values.forEach((v, i) => (v === null || v === undefined ? flush() : points.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`)));
  flush();
  // Readings without a value (a command's pass or fail, no data) are dots on the midline.
  guard.readings.forEach((r, i) => {
    const valued = r.value !== null && r.value !== undefined;
    if (r.healthy && valued) return;
    const dot = document.createElementNS(ns, 'circle');
    Object.entries({ cx: x(i), cy: valued ? y(r.value) : hgt / 2, r: 3, class: r.healthy ? 'good' : 'bad' }).forEach(([k, v]) => dot.setAttribute(k, v));
    svg.append(dot);
  });
  return svg;
}

function rolloutPanel(name) {
  const r = app.rollouts.get(name);
  if (!r) return [h('p', { class: 'empty' }, 'No rollout.')];
  const now = Date.now() + app.skew;
  const head = h('p', { class: 'rollout-head' }, h('span', { class: `rollout-badge ${r.status}` }, r.status.replace('_', ' ')),
    ` started by ${r.started_by}, ${when(r.started_at)} · on breach: ${r.on_breach} (to ${r.rollback}) · guards read every ${duration(r.check_interval_ms)}`);
  const steps = h('ol', { class: 'steps' }, r.steps.map((x) => {
    let status;
    if (x.state === 'done') status = `applied ${when(x.applied_at)}${x.versions.length ? ` · ${x.versions.map(([e, v]) => `${e} v${v}`).join(', ')}` : ''}`;
    else if (x.state === 'next' && x.awaiting_approval) status = x.due_at <= now ? 'waits for approval: vexil rollout approve' : `due in ${duration(x.due_at - now)}, then waits for approval`;
    else if (x.state === 'next') status = x.due_at <= now ? 'due now' : `due in ${duration(x.due_at - now)}`;
    else status = `then wait ${duration(x.wait_ms)}`;
    return h('li', { class: x.state, dataset: { step: String(x.number), state: x.state } },
      h('code', {}, x.set), h('span', { class: 'where' }, x.environments.join(', ')), h('span', { class: 'when' }, status));
  }));
  const guards = h('div', { class: 'guards' }, r.guards.map((g) => {
    const last = g.readings.at(-1);
    let reading;
    if (!last) reading = g.in_force ? 'not read yet' : 'not in force yet';
    else if (last.failure) reading = `failed at ${when(last.at)}: ${last.failure}`;
    else if (last.error) reading = `no data at ${when(last.at)}: ${last.error}`;
    else if (last.value !== null && last.value !== undefined) reading = `${Number(last.value.toPrecision(4))} at ${when(last.at)}`;
    else reading = `passed at ${when(last.at)}`;
    return h('div', { class: `guard ${last && !last.healthy ? 'bad' : ''}`, dataset: { guard: g.name } },
      h('div', {}, h('strong', {}, g.name), h('span', { class: 'threshold-text' }, ` ${g.threshold}`)),
      h('code', { class: 'query' }, g.query ?? g.command), sparkline(g), h('div', { class: 'reading' }, reading));
  }));
  const events = h('ol', { class: 'timeline' }, [...r.events].reverse().slice(0, 20).map((e) =>
    h('li', { dataset: { kind: e.kind } }, h('time', { datetime: new Date(e.at).toISOString() }, when(e.at)),
      h('span', {}, h('span', { class: 'action' }, e.kind.replace('_', ' ')), e.step ? h('div', { class: 'who' }, `step ${e.step}`) : null),
      h('span', {}, e.summary, h('div', { class: 'who' }, e.author)))));
  return [head, r.outcome ? h('p', { class: 'outcome' }, r.outcome) : null, r.reason && !r.outcome ? h('p', { class: 'reason' }, r.reason) : null, steps, guards, events].filter(Boolean);
}

function entry(c) {
  return h('li', { dataset: { version: String(c.version) } },
    h('time', { datetime: new Date(c.at).toISOString() }, when(c.at)),
    h('span', {}, h('span', { class: 'action' }, c.action), h('div', { class: 'who' }, `${c.environment} · v${c.version}`)),
    h('span', {}, h('code', {}, c.command), h('div', { class: 'who' }, c.author)));
}

start().catch((e) => {
  console.error(e);
  const main = document.getElementById('main');
  main.removeAttribute('aria-busy');
  main.replaceChildren(h('p', { class: 'error' }, `The dashboard could not load: ${e.message}`));
});
