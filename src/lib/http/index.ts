/** The typed HTTP client: auth token providers, retries, TLS, errors. */
export * from './errors';
export * from './retry';
export * from './tls';
export * from './auth';
export * from './client';
