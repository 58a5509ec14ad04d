import type { Bootstrap, Client, ClientOptions, Decision } from './index.js';

/** The bootstrap `bootstrapScript` put into this page, or null. */
export function readBootstrap(doc?: Document): Bootstrap | null;

export interface BootstrapClient {
  readonly version: number;
  readonly environment: string;
  isEnabled(flag: string): boolean;
  evaluate(flag: string): Decision;
  evaluateAll(): Record<string, Decision>;
  /** Loads the full client and its wasm (a separate chunk), resolving once it holds a snapshot. */
  upgrade(options: Omit<ClientOptions, 'bootstrap'>): Promise<Client>;
}

/** Answers from what the edge computed for this page: synchronous, no wasm, no network. */
export function createBootstrapClient(bootstrap?: Bootstrap | null): BootstrapClient;
