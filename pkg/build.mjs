// The CDN build (`npm pack` runs this first): the browser entry and `vexil/bootstrap` as
// minified ES modules in cdn/, for pages that import vexil from a CDN with no bundler of
// their own (`<script type="module">import { ready } from '…/vexil/cdn/vexil.min.js'`). A
// bundler gets nothing from it: it minifies src/ itself.
//
// Each file is whole, so a page waits for no second request before it runs. The bootstrap's
// `upgrade()` imports vexil.min.js (in src/ too, where it is `../cdn/vexil.min.js`), and the
// wasm stays in dist/, which both find from their own URL (`new URL('../dist/…', import.meta.url)`).
import { build } from 'esbuild';
import { rmSync } from 'node:fs';

const here = new URL('./', import.meta.url).pathname;
const outdir = `${here}cdn`;
const common = { absWorkingDir: here, bundle: true, minify: true, format: 'esm', platform: 'browser', target: 'es2022', legalComments: 'none', logLevel: 'warning' };

/** The bootstrap's dynamic import of the client (../cdn/vexil.min.js), as a CDN file sees it. */
const clientIsTheCdnFile = {
  name: 'client-is-the-cdn-file',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/cdn\/vexil\.min\.js$/ }, () => ({ path: './vexil.min.js', external: true }));
  },
};

rmSync(outdir, { recursive: true, force: true });
await build({ ...common, entryPoints: ['src/browser.js'], outfile: `${outdir}/vexil.min.js`, plugins: [clientIsTheCdnFile] });
await build({ ...common, entryPoints: ['src/bootstrap-entry.js'], outfile: `${outdir}/bootstrap.min.js`, plugins: [clientIsTheCdnFile] });
