/** Monitor thresholds: defaults, overrides, lint and OpenScale wire forms. */
export * from './schema';
export * from './defaults';
export * from './lint';
export * from './wire';
