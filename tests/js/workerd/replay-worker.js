// Replays the golden vectors inside workerd: POST the suites (snapshots as base64).
import { Snapshot, asFloat, loadVerifier } from 'vexil';
import { parseVector, replay } from './replay.mjs';

function fromBase64(text) {
  const bin = atob(text);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/verify') {
      const { bytes, key } = await request.json();
      await loadVerifier();
      try {
        return Response.json({ version: Snapshot.decode(fromBase64(bytes), { publicKeys: [key] }).version });
      } catch (e) {
        return Response.json({ error: e.code });
      }
    }
    const suites = (await request.json()).map((s) => ({ name: s.name, json: parseVector(s.json, asFloat), bytes: fromBase64(s.bytes) }));
    return Response.json(replay(Snapshot, suites));
  },
};
