/**
 * WMLA clients: deep-learning training (submission folder, typed options, submit, follow, logs, stop)
 * and Elastic Distributed Inference (deployment package, deploy/redeploy, app profile from
 * resource_configs, start, readiness, stop, undeploy, inference). Notebooks import the files
 * (`./src/lib/wmla/training`, `./src/lib/wmla/edi`, …), not this folder.
 */
export * from './submission';
export * from './training-options';
export * from './training';
export * from './package';
export * from './profile-mapping';
export * from './edi';
export * from './deploy-flow';
export { PROCESS_GROUP_SNIPPET, PROCESS_GROUP_MARKER, insertPythonBlock, insertionLine } from './python-patch';
export { expandPattern } from './files';
export { looksSecret } from './secrets';
