import type { Client, ClientOptions } from './index.js';

/** OpenFeature provider (web SDK: synchronous; server SDK: async). Boolean flags only. */
declare class VexilProvider {
  constructor(clientOrOptions: Client | ClientOptions);
  readonly metadata: { name: 'vexil' };
  readonly client: Client;
  initialize(): Promise<void>;
  onClose(): Promise<void>;
}

export class VexilWebProvider extends VexilProvider {
  readonly runsOn: 'client';
}

export class VexilServerProvider extends VexilProvider {
  readonly runsOn: 'server';
}
