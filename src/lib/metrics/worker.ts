/**
 * Worker-thread entry of the metrics pool (runs from the compiled dist/ file): announces its
 * protocol version, then answers each CountJob with a CountReply, one at a time.
 */
import { parentPort } from 'node:worker_threads';
import { WORKER_PROTOCOL, runCountJob, type CountJob } from './count-job';

const port = parentPort;
if (port) {
  port.postMessage({ ready: WORKER_PROTOCOL });
  port.on('message', (job: CountJob) => port.postMessage(runCountJob(job)));
}
