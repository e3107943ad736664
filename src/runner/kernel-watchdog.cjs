'use strict';
// Preloaded into every kernel the runner starts (`node --require <this> tslab kernel ...`).
// If the runner dies without shutting the kernel down (SIGKILL, crash, a killed test worker),
// the kernel is re-parented and this watchdog ends it, so no orphaned kernel lingers.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 500).unref();
