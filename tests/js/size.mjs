// What a browser downloads, as a bundler ships it: esbuild bundles (minified, ESM, browser
// platform) of the typical imports of vexil and of its peers, plus the wasm each fetches,
// gzip -9 and brotli. `node size.mjs` prints the table the README shows; the vexil rows are
// budgets checked by size-budget.test.mjs (sizes are deterministic).
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const here = new URL('./', import.meta.url).pathname;
const dist = new URL('./node_modules/vexil/dist/', import.meta.url);
const cdnDir = new URL('./node_modules/vexil/cdn/', import.meta.url);

/** The bundles: what each imports, and the wasm files it fetches at run time. */
export const VEXIL = [
  {
    name: 'vexil: full client, live updates',
    code: "import { ready, createClient } from 'vexil'; await ready(); createClient({ url: '/production', live: true });",
    wasm: ['vexil_bg.wasm'],
  },
  {
    // A page that reads the environment's browser snapshots, and nothing else.
    name: 'vexil: full client, browser snapshots',
    code: "import { ready, createClient } from 'vexil'; await ready({ audience: 'browser' }); createClient({ url: '/production/browser', live: true });",
    wasm: ['vexil_browser_bg.wasm'],
  },
  {
    name: 'vexil: full client, signatures verified',
    code: "import { ready, createClient } from 'vexil'; await ready({ verify: true }); createClient({ url: '/production', live: true, publicKeys: ['k'], environment: 'production', audience: 'browser' });",
    wasm: ['vexil_bg.wasm', 'verify_bg.wasm'],
    // The verifier's JS is a chunk of its own, loaded by ready({ verify: true }).
    lazy: true,
  },
  {
    // The main entry, tree-shaken: the page ships what `vexil/bootstrap` does.
    name: 'vexil: bootstrap-only page (main entry)',
    code: "import { createBootstrapClient } from 'vexil'; createBootstrapClient().isEnabled('f');",
    wasm: [],
  },
  {
    // createClient with a bootstrap is the full client, which upgrades itself after render.
    name: 'vexil: bootstrapped full client (main entry)',
    code: "import { createClient, readBootstrap } from 'vexil'; createClient({ bootstrap: readBootstrap() }).isEnabled('f');",
    wasm: [],
  },
  {
    name: 'vexil/bootstrap: bootstrap-only page',
    code: "import { createBootstrapClient } from 'vexil/bootstrap'; createBootstrapClient().isEnabled('f');",
    wasm: [],
  },
  {
    // A worker's script: workerd imports both wasm modules statically.
    name: 'vexil: edge worker (workerd entry)',
    code: "import { createClient } from 'vexil'; export default { fetch: () => createClient({ url: 'https://o/production' }).ready.then(() => new Response('ok')) };",
    wasm: ['vexil_bg.wasm', 'verify_bg.wasm'],
    conditions: ['workerd', 'worker'],
  },
  {
    // What a page without a bundler imports from a CDN: the package's prebuilt cdn/ files.
    name: 'vexil CDN build (no bundler): full client',
    cdn: 'vexil.min.js',
    wasm: ['vexil_bg.wasm'],
  },
  {
    name: 'vexil CDN build (no bundler): full client, browser snapshots',
    cdn: 'vexil.min.js',
    wasm: ['vexil_browser_bg.wasm'],
  },
  {
    name: 'vexil CDN build (no bundler): bootstrap-only page',
    cdn: 'bootstrap.min.js',
    wasm: [],
  },
  {
    name: 'vexil: OpenFeature web provider',
    code: "import { OpenFeature } from '@openfeature/web-sdk'; import { VexilWebProvider } from 'vexil/openfeature/web'; OpenFeature.setProvider(new VexilWebProvider({ url: '/production' }));",
    wasm: ['vexil_bg.wasm'],
  },
];

/** Peers, each its main client as its documentation imports it. */
export const PEERS = [
  { name: '@growthbook/growthbook', code: "import { GrowthBook } from '@growthbook/growthbook'; new GrowthBook({}).isOn('f');" },
  { name: 'launchdarkly-js-client-sdk', code: "import { initialize } from 'launchdarkly-js-client-sdk'; initialize('id', { key: 'u' });" },
  { name: '@statsig/js-client', code: "import { StatsigClient } from '@statsig/js-client'; new StatsigClient('k', {}).checkGate('f');" },
  { name: 'flagsmith (evaluates on a server)', code: "import flagsmith from 'flagsmith'; flagsmith.init({ environmentID: 'e' });" },
  { name: 'unleash-proxy-client (evaluates on a server)', code: "import { UnleashClient } from 'unleash-proxy-client'; new UnleashClient({ url: 'u', clientKey: 'k', appName: 'a' }).start();" },
  { name: '@openfeature/web-sdk', code: "import { OpenFeature } from '@openfeature/web-sdk'; OpenFeature.getClient().getBooleanValue('f', false);" },
];

const add = (sum, s) => ({ min: sum.min + s.min, gzip: sum.gzip + s.gzip, brotli: sum.brotli + s.brotli });

/** `js` plus the wasm files a page fetches with it. */
function withWasm(js, wasm) {
  return wasm.map((file) => sizes(readFileSync(new URL(file, dist)))).reduce(add, js);
}

function sizes(bytes) {
  return {
    min: bytes.length,
    gzip: gzipSync(bytes, { level: 9 }).length,
    brotli: brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
}

/**
 * One bundle's JS, and its JS plus wasm, in bytes: minified, gzip -9, brotli. Dynamic
 * imports are split off as bundlers do, and count only for bundles that load them (`lazy`).
 */
export async function measure({ code, cdn, wasm = [], lazy = false, conditions }) {
  if (cdn !== undefined) return measureCdn(cdn, wasm);
  const result = await build({
    stdin: { contents: code, resolveDir: here, loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    ...(conditions ? { conditions } : {}),
    splitting: true,
    outdir: '/vexil-size',
    metafile: true,
    write: false,
    logLevel: 'error',
    // Node built-ins some peers reference for other platforms are not what a page ships;
    // a worker's wasm modules are counted on their own.
    external: ['node:*', '*.wasm'],
  });
  const outputs = result.metafile.outputs;
  const entry = Object.keys(outputs).find((o) => outputs[o].entryPoint === '<stdin>');
  const shipped = new Set();
  const visit = (file) => {
    if (shipped.has(file)) return;
    shipped.add(file);
    for (const i of outputs[file].imports) if (!i.external && (i.kind === 'import-statement' || (lazy && i.kind === 'dynamic-import'))) visit(i.path);
  };
  visit(entry);
  // Each chunk is its own download, compressed on its own.
  const paths = new Set([...shipped].map((f) => resolve(f)));
  const js = result.outputFiles.filter((f) => paths.has(f.path)).map((f) => sizes(f.contents)).reduce(add, { min: 0, gzip: 0, brotli: 0 });
  return { js, total: withWasm(js, wasm) };
}

/**
 * A prebuilt file of the package's cdn/, with the wasm it fetches. Each is whole (a dynamic
 * import, such as the bootstrap's upgrade to the full client, loads only when called), so
 * one that imports a chunk statically would be measured short, and is refused.
 */
function measureCdn(file, wasm) {
  const bytes = readFileSync(new URL(file, cdnDir));
  if (/(?:^|;)import(?:[^"'()]*?from)?\s*"\.\//.test(bytes.toString('utf8'))) throw new Error(`cdn/${file} imports a chunk statically: measure its chunks too`);
  const js = sizes(bytes);
  return { js, total: withWasm(js, wasm) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const kib = (n) => (n / 1024).toFixed(1);
  console.log('| bundle | JS min | JS gzip | JS + wasm gzip | JS + wasm brotli |');
  console.log('|---|---:|---:|---:|---:|');
  for (const b of [...VEXIL, ...PEERS]) {
    const { js, total } = await measure(b);
    console.log(`| ${b.name} | ${kib(js.min)} KiB | ${kib(js.gzip)} KiB | ${kib(total.gzip)} KiB | ${kib(total.brotli)} KiB |`);
  }
}
