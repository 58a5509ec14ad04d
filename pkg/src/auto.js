// Browsers, initialised on import with top-level await: `import { Snapshot } from 'vexil/auto'`.
import { ready } from './browser.js';

await ready();

export * from './browser.js';
