// Run by Deno and Bun (deno-bun.test.mjs): the golden vectors and a signature check through
// the package as each runtime resolves it; prints a JSON verdict.
import { Snapshot, loadVerifier } from 'vexil';
import { loadSuites, readFixture } from './load-vectors.mjs';
import { replay } from './replay.mjs';

const result = replay(Snapshot, loadSuites());
await loadVerifier();
const key = new TextDecoder().decode(readFixture('signed/key.pub')).trim();
result.signed = Snapshot.decode(readFixture('signed/gates-v1.signed.vxl'), { publicKeys: [key] }).version;
try {
  Snapshot.decode(readFixture('signed/gates-v1.other-key.vxl'), { publicKeys: [key] });
} catch (e) {
  result.otherKey = e.code;
}
console.log(JSON.stringify(result));
