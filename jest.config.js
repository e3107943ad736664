/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Type-checking is done once by `tsc` in `npm test`; swc only strips types here.
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }] },
  testTimeout: 60000,
  // Kernels and servers are real processes: keep the suite from starving a 2-core machine.
  maxWorkers: 2,
};
