/**
 * The custom metrics provider (no terminal code): run handling (payload → metrics from the storage
 * volume → measurement → run status → reply), incoming-token checks, where monitor settings come
 * from, and registration with OpenScale. The HTTP server process is src/provider.
 */
export * from './kinds';
export * from './config-source';
export * from './compute';
export * from './run';
export * from './auth';
export * from './context';
export * from './register';
