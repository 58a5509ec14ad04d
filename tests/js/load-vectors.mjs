// Reads the golden vectors from the repository (Node, Deno and Bun).
import { readFileSync } from 'node:fs';
import { asFloat } from 'vexil';
import { SUITES, parseVector } from './replay.mjs';

const dir = new URL('../vectors/', import.meta.url);

/** The suites with their full snapshots, or (`audience: 'browser'`) their browser snapshots. */
export function loadSuites({ audience = 'server' } = {}) {
  const snapshots = audience === 'browser' ? 'browser/' : '';
  return SUITES.map((name) => ({
    name,
    json: parseVector(readFileSync(new URL(`${name}.json`, dir), 'utf8'), asFloat),
    bytes: new Uint8Array(readFileSync(new URL(`${snapshots}${name}.vxl`, dir))),
  }));
}

export function readFixture(path) {
  return new Uint8Array(readFileSync(new URL(path, dir)));
}
