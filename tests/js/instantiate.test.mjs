// Every source the browser entry's `ready({ module, verifier })` takes for the wasm, through
// pkg/src/core.js (the same code browsers run), in Node: a compiled module, bytes, a
// Response served as application/wasm (streamed) or as something else (compiled from its
// bytes), a promise of one, and a failed fetch, which must say so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Snapshot } from 'vexil';
// The module 'vexil' itself loaded (its Node entry imports the same file).
import { instantiate, instantiateVerifier } from './node_modules/vexil/src/core.js';
import { readFixture } from './load-vectors.mjs';

const wasm = readFileSync(new URL('./node_modules/vexil/dist/vexil_bg.wasm', import.meta.url));
const gates = readFixture('gates.vxl');
const expected = Snapshot.decode(gates).evaluate('actor_flag', { actors: ['User:1'] });

const sources = {
  'a compiled module': () => new WebAssembly.Module(wasm),
  'bytes (Uint8Array)': () => new Uint8Array(wasm),
  'an ArrayBuffer': () => wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength),
  'a Response served as application/wasm': () => new Response(wasm, { headers: { 'content-type': 'application/wasm' } }),
  'a Response served as another type': () => new Response(wasm, { headers: { 'content-type': 'application/octet-stream' } }),
  'a promise of a Response': () => Promise.resolve(new Response(wasm, { headers: { 'content-type': 'application/wasm; charset=binary' } })),
};

for (const [name, source] of Object.entries(sources)) {
  test(`the core instantiates from ${name}`, async () => {
    await instantiate(source());
    assert.deepEqual(Snapshot.decode(gates).evaluate('actor_flag', { actors: ['User:1'] }), expected);
  });
}

test('a failed fetch of the wasm says so', async () => {
  await assert.rejects(instantiate(new Response('missing', { status: 404 })), /fetching .*failed: HTTP 404/);
});

test('a page where the wasm should be is named, with what to do', async () => {
  const page = new Response('<!doctype html><title>app</title>', { headers: { 'content-type': 'text/html' } });
  await assert.rejects(instantiate(page), /could not compile its wasm from the response given \(.*\); if a bundler moved the files, pass where they went: ready\(\{ module, verifier \}\)/);
  await assert.rejects(instantiate(new Uint8Array([1, 2, 3])), /could not compile its wasm from the bytes given/);
});

test('the verifier instantiates from bytes and from a Response, and checks signatures', async () => {
  const verifier = readFileSync(new URL('./node_modules/vexil/dist/verify_bg.wasm', import.meta.url));
  const key = new TextDecoder().decode(readFixture('signed/key.pub')).trim();
  for (const source of [new Uint8Array(verifier), new Response(verifier, { headers: { 'content-type': 'application/wasm' } })]) {
    await instantiateVerifier(source);
    assert.equal(Snapshot.decode(readFixture('signed/gates-v1.signed.vxl'), { publicKeys: [key] }).version, 1);
    assert.throws(() => Snapshot.decode(readFixture('signed/gates-v1.other-key.vxl'), { publicKeys: [key] }), (e) => e.code === 'UNTRUSTED_KEY');
  }
});
