// `vexil/bootstrap` (and `createBootstrapClient` of the main entry): for pages that only read
// what the edge computed for them. No wasm, no network, no client machinery: the bootstrap
// answers synchronously, and `upgrade()` loads the full client (and its wasm) only when
// asked. It loads the package's prebuilt browser entry, cdn/vexil.min.js, which no entry
// imports statically: a bundler splits by file, so a client module the page's own imports
// reach (the main entry's) would go into a chunk the page loads up front.
import { checkBootstrap, readBootstrap } from './bootstrap.js';

export { readBootstrap };

/**
 * Answers from `bootstrap` (default: the one `bootstrapScript` put into this page) for the
 * page's own context: `{ isEnabled, evaluate, evaluateAll, version, environment, upgrade }`.
 * `upgrade(options)` resolves to a full client (`createClient({ ...options, bootstrap })`)
 * holding its first snapshot.
 */
export function createBootstrapClient(bootstrap = readBootstrap()) {
  const b = checkBootstrap(bootstrap);
  const evaluate = (flag) => {
    const known = Object.hasOwn(b.flags, flag);
    return { enabled: known && b.flags[flag] === true, reason: known ? 'bootstrap' : 'not_found', version: b.version };
  };
  return {
    version: b.version,
    environment: b.environment,
    isEnabled: (flag) => evaluate(flag).enabled,
    evaluate,
    evaluateAll: () => Object.fromEntries(Object.keys(b.flags).map((f) => [f, evaluate(f)])),
    async upgrade(options) {
      const { createClient } = await import('../cdn/vexil.min.js');
      const client = createClient({ ...options, bootstrap: b });
      await client.upgrade();
      return client;
    },
  };
}
