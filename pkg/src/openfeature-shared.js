// What the OpenFeature providers share: resolution of a boolean flag with OpenFeature's
// reasons and error codes, from a vexil client.
import { SnapshotError } from './boundary.js';

/** OpenFeature-style reasons for vexil's: see the providers. */
export function openFeatureReason(reason) {
  switch (reason) {
    case 'boolean':
      return 'STATIC';
    case 'default':
      return 'DEFAULT';
    case 'off':
      return 'DISABLED';
    case 'percentage_of_actors':
    case 'percentage_of_time':
      return 'SPLIT';
    case 'not_found':
      return 'ERROR';
    case 'bootstrap':
      return 'CACHED';
    default:
      return 'TARGETING_MATCH';
  }
}


/** OpenFeature evaluation context → vexil actors: targetingKey is the actor id. */
function actorsOf(context) {
  const { targetingKey, ...rest } = context ?? {};
  if (targetingKey === undefined || targetingKey === null || targetingKey === '') return [];
  const properties = {};
  for (const [k, v] of Object.entries(rest)) {
    if (v instanceof Date) properties[k] = v.toISOString();
    else if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) properties[k] = v;
    else throw new SnapshotError('INVALID_CONTEXT', `context attribute ${k}: only strings, numbers, booleans, dates and null can be properties`);
  }
  return [{ id: String(targetingKey), properties }];
}

export function resolveBoolean(client, flagKey, defaultValue, context, state) {
  const error = (errorCode, errorMessage) => ({ value: defaultValue, reason: 'ERROR', errorCode, errorMessage });
  const snapshot = client.snapshot;
  if (snapshot === null && client.bootstrapped) {
    // The edge's results for this page's user: the web SDK's one context, so it is not re-read.
    const d = client.evaluate(flagKey);
    if (d.reason === 'not_found') return error('FLAG_NOT_FOUND', `flag ${flagKey} is not in the page's bootstrap (v${d.version})`);
    return { value: d.enabled, variant: d.enabled ? 'on' : 'off', reason: 'CACHED', flagMetadata: { vexilReason: 'bootstrap', version: d.version } };
  }
  if (snapshot === null) {
    return state.parseError ? error('PARSE_ERROR', state.parseError) : error('PROVIDER_NOT_READY', 'no snapshot loaded yet');
  }
  if (!snapshot.has(flagKey)) return error('FLAG_NOT_FOUND', `flag ${flagKey} is not in ${snapshot.environment} v${snapshot.version}`);
  let actors;
  try {
    actors = actorsOf(context);
  } catch (e) {
    return error('INVALID_CONTEXT', e.message);
  }
  const d = snapshot.evaluate(flagKey, { actors });
  return {
    value: d.enabled,
    variant: d.enabled ? 'on' : 'off',
    reason: openFeatureReason(d.reason),
    flagMetadata: { vexilReason: d.reason, version: d.version },
  };
}

export function typeMismatch(defaultValue, flagKey) {
  return {
    value: defaultValue,
    reason: 'ERROR',
    errorCode: 'TYPE_MISMATCH',
    errorMessage: `vexil flags are boolean; ${flagKey} cannot be read as another type`,
  };
}

/**
 * Common provider plumbing: owns or borrows a client, tracks load failures for
 * PARSE_ERROR, and emits configuration-changed events on updates.
 */
export function attach(provider, clientOrOptions, createClient, events, ProviderEvents) {
  const client = typeof clientOrOptions?.isEnabled === 'function' ? clientOrOptions : createClient(clientOrOptions);
  const state = { parseError: null };
  client.on('error', (e) => {
    if (e instanceof SnapshotError && client.snapshot === null) state.parseError = e.message;
  });
  client.on('update', (snapshot) => {
    state.parseError = null;
    events.emit(ProviderEvents.ConfigurationChanged, { message: `vexil ${snapshot.environment} v${snapshot.version}`, metadata: { version: snapshot.version } });
  });
  provider.client = client;
  return state;
}

/**
 * An OpenFeature hook that reports each flag evaluation — flag, result, vexil's reason —
 * to `onEvaluation`, so an application labels its own metrics (requests, errors) by flag
 * state and a rollout's guards can compare the two sides. Works with any provider.
 */
export function evaluationHook(onEvaluation) {
  return {
    after(hookContext, details) {
      onEvaluation({
        flag: hookContext.flagKey,
        enabled: details.value === true,
        reason: details.flagMetadata?.vexilReason ?? String(details.reason ?? 'unknown').toLowerCase(),
        version: details.flagMetadata?.version,
      });
    },
    error(hookContext, err) {
      onEvaluation({ flag: hookContext.flagKey, enabled: hookContext.defaultValue === true, reason: 'error', error: String(err?.message ?? err) });
    },
  };
}
