// Deno and Bun (installed from npm): each replays the golden vectors through the package.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

const here = new URL('./', import.meta.url).pathname;

for (const [runtime, args] of [
  ['deno', ['run', '--quiet', '--allow-read', '--allow-env', 'runtime-replay.mjs']],
  ['bun', ['run', 'runtime-replay.mjs']],
]) {
  test(`${runtime} agrees with every golden vector`, () => {
    const out = execFileSync(`${here}node_modules/.bin/${runtime}`, args, { cwd: here, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    const result = JSON.parse(out.trim().split('\n').pop());
    assert.deepEqual(result.failures, []);
    assert.ok(result.checked > 3000, `${result.checked} cases`);
    assert.equal(result.signed, 1);
    assert.equal(result.otherKey, 'UNTRUSTED_KEY');
  });
}
