// The npm package as miniflare modules, for workers under the real workerd.
import { readFileSync, readdirSync } from 'node:fs';

export const root = new URL('./', import.meta.url).pathname;
const pkg = 'node_modules/vexil';

/**
 * The package as workerd modules, plus a `vexil` module next to each importer (`dirs`, as
 * workerd resolves a bare specifier relative to the importing module) re-exporting the
 * package's workerd entry, as a bundler honouring the `workerd` condition would.
 */
export function packageModules(dirs) {
  const modules = dirs.map((dir) => ({
    type: 'ESModule',
    path: `${root}${dir}vexil`,
    contents: `export * from '${'../'.repeat(dir.split('/').length - 1)}${pkg}/src/workerd.js';`,
  }));
  for (const dir of ['src', 'dist']) {
    for (const f of readdirSync(`${root}${pkg}/${dir}`)) {
      const path = `${root}${pkg}/${dir}/${f}`;
      if (f.endsWith('.wasm')) modules.push({ type: 'CompiledWasm', path, contents: readFileSync(path) });
      // The OpenFeature providers import their SDKs, which these workers do not have.
      else if (f.endsWith('.js') && !/^openfeature-(web|server)\.js$/.test(f)) modules.push({ type: 'ESModule', path, contents: readFileSync(path, 'utf8') });
    }
  }
  return modules;
}

/** An example worker (`examples/<name>/worker.js`) as a module. */
export function exampleWorker(name) {
  return {
    type: 'ESModule',
    path: `${root}examples/${name}/worker.js`,
    contents: readFileSync(new URL(`../../examples/${name}/worker.js`, import.meta.url), 'utf8'),
  };
}
