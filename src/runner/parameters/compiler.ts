import type * as TS from 'typescript';

let loaded: typeof TS | undefined;

/**
 * The TypeScript compiler API, loaded on first use: it costs ~0.3 s, and runs of notebooks
 * without a `parameters` cell never need it. (This file must not be named typescript.ts: tslab
 * resolves `require('typescript')` to a sibling file of that name first.)
 */
export function typescript(): typeof TS {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (loaded ??= require('typescript') as typeof TS);
}
