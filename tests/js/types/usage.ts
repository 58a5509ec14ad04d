// Compiled by types.test.mjs (tsc --noEmit): the package's declarations describe its API.
import { Snapshot, SnapshotError, createClient, createBootstrapClient, ready, asFloat, loadVerifier, bootstrapScript, readBootstrap, type Bootstrap, type BootstrapClient, type Decision } from 'vexil';
import { VexilWebProvider } from 'vexil/openfeature/web';

export async function usage(bytes: Uint8Array): Promise<boolean> {
  await ready({ verify: true, audience: 'browser' });
  await loadVerifier();
  const s: Snapshot = Snapshot.decode(bytes, { publicKeys: ['base64key'] });
  const d: Decision = s.evaluate('x', { actors: ['User:1', { id: 'User:2', properties: { plan: 'gold', n: asFloat(1), at: new Date() } }], random: 0.5 });
  const client = createClient({ url: 'https://flags.example/production', live: true, publicKeys: ['k'], environment: 'production', audience: 'server' });
  const off = client.subscribe({ actors: ['User:1'] }, (changed, decisions) => changed.forEach((f) => decisions[f].enabled));
  off();
  client.on('error', (e) => e instanceof SnapshotError && e.code === 'OLDER_VERSION');
  new VexilWebProvider(client);
  const boot: Bootstrap = s.bootstrap({ actors: [{ id: 'User:1', properties: { plan: 'gold' } }] });
  const html: string = bootstrapScript(boot, { nonce: 'n' });
  const page = createClient({ bootstrap: readBootstrap() ?? boot, url: '/production/browser', live: true, context: { actors: ['User:1'] } });
  await page.upgrade();
  const light: BootstrapClient = createBootstrapClient(boot);
  if (!light.isEnabled('x')) await light.upgrade({ url: '/production/browser' });
  if (page.bootstrapped || page.evaluate('x').reason === 'bootstrap' || html.length === 0) return false;
  return d.enabled && s.isEnabled('x', 'User:1') && s.flags()[0].state === 'on';
}
