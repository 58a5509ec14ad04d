// An OpenFeature provider for @openfeature/web-sdk: evaluation is synchronous, as the web
// SDK requires, once the client holds a snapshot.
import { OpenFeatureEventEmitter, ProviderEvents } from '@openfeature/web-sdk';
import { createClient } from 'vexil';
import { attach, resolveBoolean, typeMismatch } from './openfeature-shared.js';

export { evaluationHook } from './openfeature-shared.js';

export class VexilWebProvider {
  metadata = { name: 'vexil' };
  runsOn = 'client';
  events = new OpenFeatureEventEmitter();

  /** `clientOrOptions`: a vexil client, or createClient options (url, bytes, live, …). */
  constructor(clientOrOptions) {
    this.state = attach(this, clientOrOptions, createClient, this.events, ProviderEvents);
  }

  async initialize() {
    await this.client.ready;
  }

  resolveBooleanEvaluation(flagKey, defaultValue, context) {
    return resolveBoolean(this.client, flagKey, defaultValue, context, this.state);
  }

  resolveStringEvaluation(flagKey, defaultValue) {
    return typeMismatch(defaultValue, flagKey);
  }

  resolveNumberEvaluation(flagKey, defaultValue) {
    return typeMismatch(defaultValue, flagKey);
  }

  resolveObjectEvaluation(flagKey, defaultValue) {
    return typeMismatch(defaultValue, flagKey);
  }

  async onClose() {
    this.client.close();
  }
}
