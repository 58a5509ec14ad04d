// What every runtime's entry point exports besides its own `ready` and `loadVerifier`.
export { SnapshotError } from './boundary.js';
export { Snapshot, asFloat } from './snapshot.js';
export { bootstrapScript, readBootstrap } from './bootstrap.js';
export { createBootstrapClient } from './bootstrap-entry.js';
export { createClient } from './client.js';
export { followEnvironments } from './follow.js';
export { openFeatureReason } from './openfeature-shared.js';
