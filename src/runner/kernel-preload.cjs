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

// 3. No lost messages: tslab sends without awaiting, but a zeromq 6 socket refuses a second send
//    (EBUSY) while one is still pending, and every 512th send on a socket that never receives
//    (iopub) is deferred to the next event-loop turn. A cell printing a few hundred lines in one go
//    then makes console.log throw and the kernel stops answering (it hangs under Jupyter too).
//    Here a send that finds the socket busy waits for the pending one instead, in order. And the
//    iopub socket queues without limit: with the default high-water mark of 1000 messages, a burst
//    of output is silently dropped (the runner's subscriber is unlimited too).
try {
  const { dirname } = require('node:path');
  const tslabDir = dirname(require.resolve('tslab/package.json', { paths: [process.cwd(), __dirname] }));
  const zmq = require(require.resolve('zeromq', { paths: [tslabDir] }));
  const Publisher = zmq.Publisher;
  zmq.Publisher = class UnboundedPublisher extends Publisher {
    constructor(options) {
      super({ sendHighWaterMark: 0, ...options });
    }
  };
  const Socket = Object.getPrototypeOf(Publisher.prototype);
  const send = Socket.send;
  const queues = new WeakMap();
  Object.defineProperty(Socket, 'send', {
    configurable: true,
    writable: true,
    value: function queuedSend(...args) {
      let q = queues.get(this);
      if (!q) queues.set(this, (q = { tail: Promise.resolve(), waiting: 0 }));
      let sent;
      if (q.waiting === 0) {
        try {
          sent = send.apply(this, args);
        } catch (err) {
          if (!err || err.code !== 'EBUSY') throw err;
        }
      }
      if (!sent) {
        q.waiting += 1;
        sent = q.tail.then(() => send.apply(this, args)).finally(() => (q.waiting -= 1));
      }
      q.tail = sent.catch(() => undefined);
      return sent;
    },
  });
} catch {
  // zeromq laid out differently: leave it alone.
}
