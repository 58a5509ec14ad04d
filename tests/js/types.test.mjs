// The TypeScript declarations compile against a usage sample.
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';

test('type declarations compile', () => {
  const here = new URL('./', import.meta.url).pathname;
  execFileSync(`${here}node_modules/.bin/tsc`, ['-p', 'types/tsconfig.json'], { cwd: here, stdio: 'inherit' });
});
