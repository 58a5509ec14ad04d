// Node: the golden vectors through the package's `node` entry, as users import it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Snapshot } from 'vexil';
import { replay } from './replay.mjs';
import { loadSuites } from './load-vectors.mjs';

test('node agrees with every golden vector', () => {
  const { checked, failures } = replay(Snapshot, loadSuites());
  assert.deepEqual(failures, []);
  assert.ok(checked > 3000, `${checked} cases`);
});
