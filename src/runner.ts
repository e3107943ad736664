/**
 * Entry point for `import { runNotebook } from './src/runner'` in notebooks: tslab resolves a
 * relative import to a file but not to a directory's index.ts, so this file stands in for it.
 */
export * from './runner/index';
