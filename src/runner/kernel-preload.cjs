'use strict';
// Preloaded into every kernel the runner starts (`node --require <this> <tslab>/bin/tslab kernel ...`).

// 1. Watchdog: if the runner dies without shutting the kernel down (SIGKILL, crash, a killed test
//    worker), the kernel is re-parented; it then exits, so no orphaned kernel lingers.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 500).unref();

// 2. Faster start: tslab type-checks cells with every package in node_modules/@types loaded as
//    global types (jest alone brings 15), which makes its startup much slower. Only @types/node
//    declares globals notebooks use; imports still find their own @types packages (module
//    resolution looks them up by name, not by listing the folder). So the listing of @types
//    folders, which TypeScript uses only to pick the automatic global types, shows just `node`.
//    RUNBOOK_KERNEL_ALL_TYPES=1 restores tslab's behaviour.
if (!process.env.RUNBOOK_KERNEL_ALL_TYPES) {
  try {
    const { dirname } = require('node:path');
    const tslabDir = dirname(require.resolve('tslab/package.json', { paths: [process.cwd(), __dirname] }));
    const ts = require(require.resolve('@tslab/typescript-for-tslab', { paths: [tslabDir] }));
    const getDirectories = ts.sys.getDirectories;
    ts.sys.getDirectories = function (path) {
      const dirs = getDirectories.call(this, path);
      return /[\\/]node_modules[\\/]@types[\\/]?$/.test(path) ? dirs.filter((d) => d === 'node') : dirs;
    };
  } catch {
    // tslab laid out differently: start it unchanged.
  }
}
