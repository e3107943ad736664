/** Deployment and monitor metadata: schemas, YAML, template, pure entry operations and stores. */
export * from './schema';
export * from './yaml-issues';
export * from './yaml';
export * from './template';
export * from './entries';
export * from './store';
export * from './file-store';
export * from './lint';
export * from './space-store';
