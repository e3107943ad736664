/**
 * A closed-loop HTTP load: `clients` concurrent clients, each sending the same prepared request on
 * its own keep-alive connection and the next one as soon as the answer has arrived, for a fixed
 * time. The client side is plain node:http with the body serialised once, so that the sandbox and
 * the reference server are measured under the same, cheap client (the library's client parses and
 * validates every answer, which would weigh on the shared 2 cores and blur the comparison).
 */
import { Agent, request } from 'node:http';
import { cpuSeconds } from '../process-stats';

export interface LoadRequest {
  readonly url: string;
  readonly method: 'POST' | 'GET';
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
  /** The status every answer must have; others are counted as errors. */
  readonly expectStatus: number;
}

export interface LoadOptions {
  readonly clients: number;
  /** Measured time. */
  readonly seconds: number;
  /** Unmeasured time before it (connections, JIT, caches). */
  readonly warmupSeconds: number;
  /** The server's pid, for its CPU use. */
  readonly serverPid?: number;
}

export interface LoadResult {
  readonly clients: number;
  readonly seconds: number;
  /** Measured requests (answered with the expected status). */
  readonly requests: number;
  /** Answers with another status, or failed requests, in the measured time. */
  readonly errors: number;
  readonly firstError?: string;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Mean size of an answer's body. */
  readonly responseBytes: number;
  /** CPU use over the measured time, in cores (1 = one core busy all the time). */
  readonly clientCpuCores: number;
  readonly serverCpuCores?: number;
}

/** One request; resolves with the status and the body's size (the body itself is drained). */
function send(agent: Agent, target: URL, req: LoadRequest): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...req.headers };
    if (req.body) headers['content-length'] = String(req.body.length);
    const r = request({ agent, host: target.hostname, port: target.port, path: target.pathname + target.search, method: req.method, headers }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end(req.body);
  });
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export async function runLoad(req: LoadRequest, opts: LoadOptions): Promise<LoadResult> {
  const target = new URL(req.url);
  const agent = new Agent({ keepAlive: true, maxSockets: opts.clients });
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let bytes = 0;
  const start = performance.now();
  const measureFrom = start + opts.warmupSeconds * 1000;
  const end = measureFrom + opts.seconds * 1000;
  let cpu0: { client: NodeJS.CpuUsage; server?: number } | undefined;
  const cpuMark = setTimeout(() => (cpu0 = { client: process.cpuUsage(), server: opts.serverPid ? cpuSeconds(opts.serverPid) : undefined }), opts.warmupSeconds * 1000);

  const client = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      let outcome: string | undefined;
      let got = 0;
      try {
        const res = await send(agent, target, req);
        got = res.bytes;
        if (res.status !== req.expectStatus) outcome = `status ${res.status}`;
      } catch (err) {
        outcome = (err as Error).message;
        await new Promise((r) => setTimeout(r, 10)); // a refused connection must not spin
      }
      const t1 = performance.now();
      if (t0 < measureFrom || t1 > end) continue; // count only requests wholly inside the measured time
      if (outcome === undefined) {
        latencies.push(t1 - t0);
        bytes += got;
      } else {
        errors++;
        firstError ??= outcome;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.clients }, client));
  } finally {
    clearTimeout(cpuMark);
    agent.destroy();
  }
  const clientCpu = cpu0 ? process.cpuUsage(cpu0.client) : { user: 0, system: 0 };
  const serverCpu = cpu0?.server !== undefined && opts.serverPid ? cpuSeconds(opts.serverPid) : undefined;
  const sorted = Float64Array.from(latencies).sort();
  return {
    clients: opts.clients,
    seconds: opts.seconds,
    requests: latencies.length,
    errors,
    ...(firstError ? { firstError } : {}),
    requestsPerSecond: latencies.length / opts.seconds,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length ? sorted[sorted.length - 1]! : NaN,
    responseBytes: latencies.length ? bytes / latencies.length : 0,
    clientCpuCores: (clientCpu.user + clientCpu.system) / 1e6 / opts.seconds,
    ...(serverCpu !== undefined && cpu0?.server !== undefined ? { serverCpuCores: (serverCpu - cpu0.server) / opts.seconds } : {}),
  };
}
