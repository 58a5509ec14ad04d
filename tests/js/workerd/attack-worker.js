// The attack suite (attacks.mjs) inside workerd: POST { origin, key } to /attacks or /memory.
import * as vexil from 'vexil';
import { memory } from '../node_modules/vexil/src/boundary.js';
import { forgedSnapshots, runAttacks } from './attacks.mjs';

export default {
  async fetch(request) {
    const { origin, key } = await request.json();
    await vexil.loadVerifier();
    if (new URL(request.url).pathname === '/memory') {
      return Response.json(forgedSnapshots(vexil, { key, wasmBytes: () => memory().buffer.byteLength }));
    }
    return Response.json(await runAttacks(vexil, { origin, key }));
  },
};
