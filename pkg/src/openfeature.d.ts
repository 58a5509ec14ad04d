import type { Client, ClientOptions, Evaluation } from './index.js';

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

/** An OpenFeature hook reporting each evaluation's flag, result and reason to `onEvaluation`. */
export function evaluationHook(onEvaluation: (evaluation: Evaluation) => void): {
  after(hookContext: { flagKey: string }, details: { value: unknown; reason?: string; flagMetadata?: Record<string, unknown> }): void;
  error(hookContext: { flagKey: string; defaultValue: unknown }, error: unknown): void;
};
