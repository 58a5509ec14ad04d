// A Cloudflare-style module worker that answers "which flags are on for this visitor".
//
// The snapshot comes from a Workers KV binding (FLAGS, key latest.vxl — push it there with
// `vexil snapshot --env production | wrangler kv key put latest.vxl --path /dev/stdin`) or,
// without one, from an origin URL (ORIGIN_URL, the environment's base URL, as `vexil serve`
// or a static target serves it). Workers cannot hold a stream, so the snapshot is re-read
// when it is older than FLAGS_TTL_MS: that is the propagation bound at the edge.
//
// With VEXIL_PUBLIC_KEYS (comma-separated), snapshots must be signed by one of them, be
// VEXIL_ENVIRONMENT's server snapshot, and be vouched for by the freshness statement next
// to latest.vxl (KV key freshness.vxf) — see the README's "Security" section.
//
// `import ... from 'vexil'` resolves to the package's `workerd` entry, which imports the
// wasm as a module (workerd refuses to compile wasm from bytes).
import { createClient, loadVerifier } from 'vexil';

let client = null;
let loadedAt = 0;

async function flags(env) {
  const ttl = Number(env.FLAGS_TTL_MS ?? 5000);
  if (client === null) {
    const publicKeys = env.VEXIL_PUBLIC_KEYS ? env.VEXIL_PUBLIC_KEYS.split(',') : undefined;
    if (publicKeys) await loadVerifier();
    const trust = publicKeys ? { publicKeys, environment: env.VEXIL_ENVIRONMENT, audience: 'server' } : {};
    client = createClient(env.FLAGS ? { kv: env.FLAGS, ...trust } : { url: env.ORIGIN_URL, ...trust });
    await client.ready;
    loadedAt = Date.now();
  } else if (Date.now() - loadedAt > ttl) {
    loadedAt = Date.now();
    await client.refresh();
  }
  return client;
}

export default {
  async fetch(request, env) {
    const c = await flags(env);
    const url = new URL(request.url);
    const actor = url.searchParams.get('actor') ?? request.headers.get('x-vexil-actor') ?? undefined;
    const context = actor ? { actors: [actor] } : {};
    const match = url.pathname.match(/^\/flags\/([a-z0-9_]+)$/);
    if (match) {
      return Response.json(c.evaluate(match[1], context));
    }
    const decisions = c.evaluateAll(context);
    const enabled = Object.keys(decisions).filter((f) => decisions[f].enabled);
    return Response.json({ environment: c.snapshot.environment, version: c.version, actor: actor ?? null, enabled });
  },
};
