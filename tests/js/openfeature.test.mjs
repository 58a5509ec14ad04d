// The OpenFeature providers against the real @openfeature/web-sdk and server-sdk: reasons,
// error codes, and configuration-changed events on live updates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OpenFeature as WebOpenFeature, ProviderEvents as WebEvents } from '@openfeature/web-sdk';
import { OpenFeature as ServerOpenFeature, ProviderEvents as ServerEvents } from '@openfeature/server-sdk';
import { createClient } from 'vexil';
import { VexilWebProvider } from 'vexil/openfeature/web';
import { VexilServerProvider, evaluationHook } from 'vexil/openfeature/server';
import { readFixture } from './load-vectors.mjs';

const gates = readFixture('gates.vxl');
const gitlab = readFixture('gitlab.vxl');
const v1 = readFixture('signed/gates-v1.signed.vxl');
const v3 = readFixture('signed/gates-v3.on-flag-off.signed.vxl');

test('web SDK: reasons and error codes', async () => {
  await WebOpenFeature.setProviderAndWait('vexil-web', new VexilWebProvider({ bytes: gates }));
  const client = WebOpenFeature.getClient('vexil-web');
  await WebOpenFeature.setContext('vexil-web', { targetingKey: 'User:1' });
  const d = (flag) => client.getBooleanDetails(flag, false);
  assert.equal(d('on_flag').reason, 'STATIC');
  assert.equal(d('on_flag').value, true);
  assert.equal(d('actor_flag').reason, 'TARGETING_MATCH');
  assert.equal(d('off_flag').reason, 'DISABLED');
  assert.equal(d('off_flag').value, false);
  await WebOpenFeature.setContext('vexil-web', { targetingKey: 'User:5', team: 'gitlab' });
  assert.equal(d('group_flag').reason, 'TARGETING_MATCH');
  assert.equal(d('group_flag').flagMetadata.vexilReason, 'group');
  const missing = d('no_such_flag');
  assert.equal(missing.errorCode, 'FLAG_NOT_FOUND');
  assert.equal(missing.value, false);
  const typed = client.getStringDetails('on_flag', 'x');
  assert.equal(typed.errorCode, 'TYPE_MISMATCH');
  assert.equal(typed.value, 'x');
  await WebOpenFeature.setContext('vexil-web', { targetingKey: 'User:5', bad: { nested: true } });
  assert.equal(d('on_flag').errorCode, 'INVALID_CONTEXT');
  await WebOpenFeature.clearProviders();
});

test('web SDK: DEFAULT and opt-out, SPLIT', async () => {
  await WebOpenFeature.setProviderAndWait('vexil-gitlab', new VexilWebProvider({ bytes: gitlab }));
  const client = WebOpenFeature.getClient('vexil-gitlab');
  await WebOpenFeature.setContext('vexil-gitlab', { targetingKey: 'User:1' });
  assert.equal(client.getBooleanDetails('default_on_unpersisted', false).reason, 'DEFAULT');
  assert.equal(client.getBooleanDetails('default_on_unpersisted', false).value, true);
  const optOut = client.getBooleanDetails('on_with_opt_out', true);
  assert.deepEqual([optOut.value, optOut.reason], [false, 'TARGETING_MATCH']);
  const split = client.getBooleanDetails('percentage_with_opt_out', true);
  await WebOpenFeature.setContext('vexil-gitlab', { targetingKey: 'User:2' });
  assert.equal(client.getBooleanDetails('percentage_with_opt_out', false).reason, 'SPLIT');
  assert.equal(split.flagMetadata.vexilReason, 'opt_out');
  await WebOpenFeature.clearProviders();
});

test('web SDK: a bootstrapped page resolves at once, from the edge\'s results', async () => {
  const bootstrap = { environment: 'production', version: 4, flags: { on_flag: true, off_flag: false } };
  await WebOpenFeature.setProviderAndWait('vexil-boot', new VexilWebProvider({ bootstrap }));
  const client = WebOpenFeature.getClient('vexil-boot');
  const on = client.getBooleanDetails('on_flag', false);
  assert.deepEqual([on.value, on.reason, on.flagMetadata.vexilReason, on.flagMetadata.version], [true, 'CACHED', 'bootstrap', 4]);
  assert.equal(client.getBooleanDetails('off_flag', true).value, false);
  assert.equal(client.getBooleanDetails('server_only_flag', false).errorCode, 'FLAG_NOT_FOUND');
  await WebOpenFeature.clearProviders();
});

test('web SDK: not ready, then parse error', async () => {
  const provider = new VexilWebProvider({ url: 'http://127.0.0.1:9/none' });
  assert.equal(provider.resolveBooleanEvaluation('on_flag', true, {}).errorCode, 'PROVIDER_NOT_READY');
  const bad = createClient({ kv: { get: async () => new TextEncoder().encode('garbage').buffer } });
  const badProvider = new VexilWebProvider(bad);
  await bad.ready.catch(() => {});
  assert.equal(badProvider.resolveBooleanEvaluation('on_flag', true, {}).errorCode, 'PARSE_ERROR');
});

test('server SDK: evaluation and configuration-changed on live updates', async () => {
  let bytes = v1;
  const kv = { get: async () => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) };
  const provider = new VexilServerProvider({ kv, live: true, pollInterval: 20 });
  await ServerOpenFeature.setProviderAndWait('vexil-server', provider);
  const client = ServerOpenFeature.getClient('vexil-server');
  assert.equal(await client.getBooleanValue('on_flag', false, { targetingKey: 'User:1' }), true);
  const details = await client.getBooleanDetails('time_full_flag', false, {});
  assert.equal(details.reason, 'SPLIT');
  const changed = new Promise((resolve) => client.addHandler(ServerEvents.ConfigurationChanged, resolve));
  bytes = v3;
  const event = await changed;
  assert.equal(event.metadata.version, 3);
  assert.equal(await client.getBooleanValue('on_flag', true, { targetingKey: 'User:1' }), false);
  assert.equal((await client.getNumberDetails('on_flag', 1)).errorCode, 'TYPE_MISMATCH');
  await ServerOpenFeature.close();
});

test('web SDK: configuration-changed events', async () => {
  let bytes = v1;
  const kv = { get: async () => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) };
  await WebOpenFeature.setProviderAndWait('vexil-live', new VexilWebProvider({ kv, live: true, pollInterval: 20 }));
  const client = WebOpenFeature.getClient('vexil-live');
  const changed = new Promise((resolve) => client.addHandler(WebEvents.ConfigurationChanged, resolve));
  bytes = v3;
  await changed;
  assert.equal(client.getBooleanValue('on_flag', true), false);
  await WebOpenFeature.close();
});

test('server SDK: evaluationHook reports flag, result and reason for labelled metrics', async () => {
  const seen = [];
  await ServerOpenFeature.setProviderAndWait('vexil-hooked', new VexilServerProvider({ bytes: gates }));
  const client = ServerOpenFeature.getClient('vexil-hooked');
  client.addHooks(evaluationHook((e) => seen.push(e)));
  assert.equal(await client.getBooleanValue('on_flag', false, { targetingKey: 'User:1' }), true);
  await client.getBooleanValue('off_flag', true, {});
  await client.getBooleanValue('no_such_flag', false, {});
  assert.deepEqual(seen.slice(0, 2).map((e) => [e.flag, e.enabled, e.reason, e.version]), [
    ['on_flag', true, 'boolean', 1],
    ['off_flag', false, 'off', 1],
  ]);
  assert.equal(seen[2].flag, 'no_such_flag');
  assert.equal(seen[2].enabled, false);
  await ServerOpenFeature.close();
});

