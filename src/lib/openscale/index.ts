/**
 * Watson OpenScale v2 through the profile's `openscale` client: data marts, the headless service
 * provider, subscriptions, custom metrics provider registrations, monitor definitions and
 * instances, runs, measurements and a subscription's monitoring status. Every create is
 * find-or-create and every mutating step takes `{ plan }` (src/lib/plan.ts).
 */
export * from './common';
export * from './data-marts';
export * from './service-providers';
export * from './subscriptions';
export * from './integrated-systems';
export * from './monitor-definitions';
export * from './monitor-instances';
export * from './runs';
export * from './measurements';
export * from './status';
