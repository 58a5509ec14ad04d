// An edge worker that renders a page with its flags already decided: flicker-free, with
// nothing about other users or server-only flags reaching the browser.
//
// The worker holds the environment's full snapshot (it is trusted, like a server). For each
// page it evaluates every client-side flag for the visitor (`snapshot.bootstrap(context)`)
// and inlines the results; the page's client answers from them synchronously, then — after
// the first render — upgrades to the browser snapshot (client-side flags only, ids hashed)
// and follows its event stream. The origin is `vexil serve` (ORIGIN_URL); the worker
// proxies the package files and the browser routes so the page talks to one origin. With
// `[serve] public = "browser"` the origin keeps full snapshots behind its token: give the
// worker VEXIL_TOKEN.
import { bootstrapScript, createClient } from 'vexil';

let client = null;
let loadedAt = 0;

/** fetch, with the origin's token when the worker has one. */
function originFetch(env) {
  if (!env.VEXIL_TOKEN) return fetch;
  return (url, init = {}) => fetch(url, { ...init, headers: { ...init.headers, Authorization: `Bearer ${env.VEXIL_TOKEN}` } });
}

async function flags(env) {
  if (client === null) {
    client = createClient({ url: `${env.ORIGIN_URL}/${env.ENVIRONMENT}`, fetch: originFetch(env) });
    await client.ready;
    loadedAt = Date.now();
  } else if (Date.now() - loadedAt > Number(env.FLAGS_TTL_MS ?? 5000)) {
    loadedAt = Date.now();
    await client.refresh();
  }
  return client;
}

/**
 * Who is visiting. A real worker asks its session (a verified cookie, a JWT); this example
 * trusts an `actor` cookie and an `x-visitor-email` header, so it must not face the
 * internet as it is: whoever sets them is told that actor's client-side results.
 */
function visitor(request) {
  const cookie = /(?:^|;\s*)actor=([^;]+)/.exec(request.headers.get('cookie') ?? '')?.[1];
  if (!cookie) return {};
  const email = request.headers.get('x-visitor-email');
  return { actors: [{ id: decodeURIComponent(cookie), properties: email ? { email } : {} }] };
}

const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(env, bootstrap, context) {
  const contextJson = JSON.stringify(context).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(env.ENVIRONMENT)}: flags for this visitor</title>
${bootstrapScript(bootstrap)}
<script type="application/json" id="visitor">${contextJson}</script>
<script type="module">
  import { createClient, readBootstrap } from '/pkg/src/browser.js';
  const context = JSON.parse(document.getElementById('visitor').textContent);
  const client = createClient({ bootstrap: readBootstrap(), url: '/${env.ENVIRONMENT}/browser', audience: 'browser', live: true, context });
  const render = (source) => {
    const list = document.getElementById('flags');
    list.replaceChildren(...Object.entries(client.evaluateAll()).map(([name, d]) => {
      const li = document.createElement('li');
      li.dataset.flag = name;
      li.dataset.enabled = String(d.enabled);
      li.textContent = name + ': ' + (d.enabled ? 'on' : 'off');
      return li;
    }));
    document.getElementById('source').textContent = source + ' v' + client.version;
  };
  // The first render, from the bootstrap: no wasm, no request.
  render('bootstrap');
  window.vexilPage = {
    firstRender: { at: performance.now(), values: Object.fromEntries(Object.entries(client.evaluateAll()).map(([f, d]) => [f, d.enabled])) },
    client,
  };
  client.on('update', () => render('snapshot'));
</script>
</head>
<body>
<h1>Flags for this visitor</h1>
<p id="source">loading</p>
<ul id="flags"></ul>
</body>
</html>`;
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    // The package and the browser snapshots come from the origin; never the full snapshot.
    if (url.pathname.startsWith('/pkg/') || url.pathname.startsWith(`/${env.ENVIRONMENT}/browser/`)) {
      // Only what caching and stream resumption need; the visitor's cookies stay here.
      const headers = {};
      for (const h of ['accept', 'if-none-match', 'last-event-id']) {
        if (request.headers.has(h)) headers[h] = request.headers.get(h);
      }
      return originFetch(env)(`${env.ORIGIN_URL}${url.pathname}`, { headers });
    }
    if (url.pathname !== '/') return new Response('not found', { status: 404 });
    const context = visitor(request);
    const c = await flags(env);
    const html = page(env, c.snapshot.bootstrap(context), context);
    return new Response(html, { headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'private, no-store' } });
  },
};
