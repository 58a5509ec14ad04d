// An OpenFeature provider for @openfeature/server-sdk (Node, Deno, Bun, edge workers).
import { OpenFeatureEventEmitter, ProviderEvents } from '@openfeature/server-sdk';
import { createClient } from 'vexil';
import { attach, resolveBoolean, typeMismatch } from './openfeature-shared.js';

export { evaluationHook } from './openfeature-shared.js';

export class VexilServerProvider {
  metadata = { name: 'vexil' };
  runsOn = 'server';
  events = new OpenFeatureEventEmitter();

  /** `clientOrOptions`: a vexil client, or createClient options (url, bytes, kv, live, …). */
  constructor(clientOrOptions) {
    this.state = attach(this, clientOrOptions, createClient, this.events, ProviderEvents);
  }

  async initialize() {
    await this.client.ready;
  }

  async resolveBooleanEvaluation(flagKey, defaultValue, context) {
    return resolveBoolean(this.client, flagKey, defaultValue, context, this.state);
  }

  async resolveStringEvaluation(flagKey, defaultValue) {
    return typeMismatch(defaultValue, flagKey);
  }

  async resolveNumberEvaluation(flagKey, defaultValue) {
    return typeMismatch(defaultValue, flagKey);
  }

  async resolveObjectEvaluation(flagKey, defaultValue) {
    return typeMismatch(defaultValue, flagKey);
  }

  async onClose() {
    this.client.close();
  }
}
