// A fuzzer for the SDK's event-stream parser (pkg/src/sse.js): random event lists written
// as the standard allows (CR, LF or CRLF line ends, comments, unknown fields, a BOM), cut
// into random chunks — inside a CRLF, inside a multi-byte character — must parse back to
// exactly those events; random bytes must parse or fail only with the parser's own limits.
// `node sse-fuzz.mjs SECONDS` runs a campaign; sse-fuzz.test.mjs a short deterministic one.
import { serverSentEvents } from './node_modules/vexil/src/sse.js';

/** xorshift32: a seeded stream, so a failure can be replayed from its seed. */
function rng(seed) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
  return { next, int: (n) => Math.floor(next() * n), pick: (a) => a[Math.floor(next() * a.length)] };
}

const PIECES = ['a', 'z', ' ', ':', 'data', 'é', '€', '🚀', '{"version":3}', 'id', '\u2028', 'x'.repeat(40)];

function text(r, max, allowNewline) {
  let s = '';
  for (let n = r.int(max); n > 0; n--) s += r.pick(allowNewline ? [...PIECES, '\n'] : PIECES);
  return s;
}

function body(chunks) {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]);
      else controller.close();
    },
  });
}

async function parse(chunks) {
  const out = [];
  for await (const e of serverSentEvents(body(chunks))) out.push(e);
  return out;
}

function cut(bytes, r) {
  const chunks = [];
  for (let at = 0; at < bytes.length; ) {
    const n = 1 + r.int(r.next() < 0.3 ? 3 : 64);
    chunks.push(bytes.subarray(at, at + n));
    at += n;
  }
  return chunks;
}

/** One well-formed case: the events written, and what parsing must give back. */
function wellFormed(r) {
  const events = [];
  let wire = r.next() < 0.1 ? '\uFEFF' : '';
  let id = null;
  // One space after the colon is dropped by the reader: a value starting with one needs it.
  const sep = (value) => (value.startsWith(' ') || r.next() < 0.5 ? ' ' : '');
  // A CR then an LF would be one CRLF, not two line ends: after a CR, no lone LF.
  const eol = () => (wire.endsWith('\r') ? r.pick(['\r', '\r\n']) : r.pick(['\n', '\r', '\r\n']));
  for (let n = r.int(6); n > 0; n--) {
    if (r.next() < 0.3) wire += `:${text(r, 4, false)}${eol()}`;
    const type = r.next() < 0.5 ? 'snapshot' : null;
    if (type) wire += `event: ${type}${eol()}`;
    if (r.next() < 0.4) {
      id = text(r, 3, false).replace(/[\r\n]/g, '');
      wire += `id:${sep(id)}${id}${eol()}`;
    }
    if (r.next() < 0.2) wire += `retry: 1000${eol()}unknown: field${eol()}`;
    const data = text(r, 6, true);
    for (const line of data.split('\n')) wire += `data:${sep(line)}${line}${eol()}`;
    wire += eol();
    events.push({ type: type ?? 'message', data, id });
  }
  return { wire: new TextEncoder().encode(wire), events };
}

/** Runs `iterations` cases (or until `seconds` pass) from `seed`; throws on the first failure. */
export async function fuzzSse({ seed = 1, iterations = Infinity, seconds = Infinity } = {}) {
  const r = rng(seed);
  const end = Date.now() + seconds * 1000;
  let cases = 0;
  let refused = 0;
  for (; cases < iterations && Date.now() < end; cases++) {
    const { wire, events } = wellFormed(r);
    const got = await parse(cut(wire, r));
    const same = got.length === events.length && got.every((e, i) => e.type === events[i].type && e.data === events[i].data && e.id === events[i].id);
    if (!same) throw new Error(`seed ${seed}, case ${cases}: ${JSON.stringify(new TextDecoder().decode(wire))} parsed to ${JSON.stringify(got)}, not ${JSON.stringify(events)}`);
    // Noise: any bytes (a long line now and then) parse, or fail with the parser's limits.
    const noise = new Uint8Array(r.next() < 0.01 ? 70 * 1024 : r.int(512));
    for (let i = 0; i < noise.length; i++) noise[i] = r.next() < 0.2 ? r.pick([10, 13, 58, 32]) : r.int(256);
    try {
      await parse(cut(noise, r));
    } catch (e) {
      if (!/^an? (line|event) of more than/.test(e.message)) throw new Error(`seed ${seed}, case ${cases}: noise failed with ${e.stack}`);
      refused++;
    }
  }
  return { cases, refused };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const seconds = Number(process.argv[2] ?? 60);
  const started = Date.now();
  const stats = await fuzzSse({ seed: Number(process.argv[3] ?? Date.now() % 2 ** 31), seconds });
  console.log(JSON.stringify({ ...stats, seconds: (Date.now() - started) / 1000 }));
}
