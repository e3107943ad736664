#!/usr/bin/env node
'use strict';
// The `runbook` CLI runs from the compiled output (npm ci builds it in postinstall).
const { join } = require('node:path');
const { existsSync } = require('node:fs');
const entry = join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (!existsSync(entry)) {
  console.error('cpd-runbook is not built: run `npm ci` or `npm run build` in ' + join(__dirname, '..'));
  process.exit(1);
}
require(entry).main(process.argv.slice(2));
