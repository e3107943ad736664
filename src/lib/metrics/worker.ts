/**
 * Worker-thread entry of the metrics pool (runs from the compiled dist/ file): announces its
 * protocol version, then answers each CountBatch with a CountReply, one at a time.
 */
import { parentPort } from 'node:worker_threads';
import { WORKER_PROTOCOL, runCountBatch, type CountBatch } from './count-job';
import { pairScratch } from './scratch';

const port = parentPort;
if (port) {
  // One set of decode buffers for the worker's life: a pair then allocates nothing large.
  const scratch = pairScratch();
  port.postMessage({ ready: WORKER_PROTOCOL });
  port.on('message', (batch: CountBatch) => {
    const reply = runCountBatch(batch, scratch);
    port.postMessage(reply, [reply.counts.buffer as ArrayBuffer]); // the counts move, they are not copied
  });
}
