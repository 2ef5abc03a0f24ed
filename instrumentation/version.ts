import { createRequire } from 'node:module';

/** mcplens' version, the instrumentation scope version of its spans. */
export const VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
