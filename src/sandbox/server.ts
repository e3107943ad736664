import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { ConfigError } from '../lib/errors';
import { atomicWriteFileSync } from '../lib/util/atomic-write';
import { AuthService } from './auth';
import { loadConfig, type SandboxConfig, type SandboxConfigInput } from './config';
import { adminModule } from './core/admin';
import { authModule } from './core/auth-routes';
import { ApiError, badRequest, envelope, validationError } from './errors';
import { FaultInjector } from './faults';
import { readBodyLimited } from './http/body';
import { Router, type Method, type Reply, type RequestContext, type RouteOptions, type Handler } from './http/router';
import type { ModuleHost, ModuleInstance, SandboxModule, StatusSection, Timers } from './module';
import { serviceModules } from './services';
import { acquireServerLock, canonicalStateDir, endpointPath } from './state-lock';
import { loadOrCreateSecret } from './jwt';
import { Store } from './store';

export interface SandboxServerOptions {
  stateDir: string;
  /** 0 (default) = any free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Applied over `<stateDir>/config.json` (see loadConfig). */
  config?: SandboxConfigInput;
  /** The service modules; default: every module in src/sandbox/services/index.ts. */
  modules?: readonly SandboxModule<any>[];
  /** Log sink; default none (the process entry passes stdout). */
  log?: (line: string) => void;
}

export interface RunningSandbox {
  url: string;
  port: number;
  stateDir: string;
  pid: number;
  instanceId: string;
  startedAt: string;
  config: SandboxConfig;
  faults: FaultInjector;
  /** Every module's status section, in module order. */
  status(): Promise<{ module: string; section: StatusSection }[]>;
  close(): Promise<void>;
}

const VERSION_DATE = /^\d{4}-\d{2}-\d{2}$/;

/** `/ml/v4/*` requires `version=YYYY-MM-DD` (ibm-api-contracts.md §2.1); `/v2/*` ignores it. */
function checkVersionParam(path: string, params: URLSearchParams): void {
  if (!path.startsWith('/ml/v4/') && path !== '/ml/v4') return;
  const version = params.get('version');
  if (version === null) throw badRequest("query.version: required (a date YYYY-MM-DD)", 'missing_version');
  if (!VERSION_DATE.test(version) || Number.isNaN(Date.parse(`${version}T00:00:00Z`))) {
    throw badRequest(`query.version: expected a date YYYY-MM-DD, got '${version}'`, 'invalid_version');
  }
}

async function readBody(req: IncomingMessage, options: RouteOptions<unknown, unknown>, limit: number): Promise<unknown> {
  const spec = options.body;
  if (spec === 'stream') return undefined;
  if (spec === undefined) {
    req.resume();
    return undefined;
  }
  const bytes = await readBodyLimited(req, limit, (declared) =>
    declared !== undefined ? `The request body (${declared} bytes) is larger than the limit of ${limit} bytes` : `The request body is larger than the limit of ${limit} bytes`,
  );
  const text = bytes.toString('utf8');
  let value: unknown;
  if (options.bodyFormat === 'form') {
    value = Object.fromEntries(new URLSearchParams(text));
  } else if (text.trim() === '') {
    value = undefined;
  } else {
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw badRequest(`The request body is not valid JSON: ${(err as Error).message}`, 'invalid_json');
    }
  }
  const parsed = spec.safeParse(value);
  if (!parsed.success) throw validationError(parsed.error, 'body');
  return parsed.data;
}

function safeDecodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/**
 * Starts the sandbox HTTP server in this process: loads config and state, sweeps leftovers of a
 * previous kill, sets every module up, listens, and records `<state>/sandbox.json`.
 */
export async function startSandboxServer(options: SandboxServerOptions): Promise<RunningSandbox> {
  const stateDir = canonicalStateDir(options.stateDir);
  const lock = acquireServerLock(stateDir);
  const closers: (() => Promise<void> | void)[] = [() => lock.release()];
  const runClosers = async (): Promise<void> => {
    for (const close of closers.splice(0).reverse()) {
      try {
        await close();
      } catch {
        /* keep closing */
      }
    }
  };
  try {
    return await start(options, stateDir, lock.instanceId, closers, runClosers);
  } catch (err) {
    await runClosers();
    throw err;
  }
}

async function start(
  options: SandboxServerOptions,
  stateDir: string,
  instanceId: string,
  closers: (() => Promise<void> | void)[],
  runClosers: () => Promise<void>,
): Promise<RunningSandbox> {
  const log = options.log ?? (() => undefined);
  const config = loadConfig(stateDir, options.config);
  const secret = loadOrCreateSecret(stateDir);
  const auth = new AuthService(config, secret);
  const faults = new FaultInjector(config.faults, config.seed);
  const store = new Store(stateDir, (m) => log(m));
  const swept = await store.sweepTemporaryFiles();
  if (swept > 0) log(`swept ${swept} partial upload(s) left by an earlier stop`);
  const router = new Router();
  const startedAt = new Date().toISOString();
  let baseUrl = '';
  let closing = false;
  const timers = new Set<NodeJS.Timeout>();
  const exposed = new Map<string, unknown>();
  const instances: { module: string; instance: ModuleInstance }[] = [];

  const makeTimers = (moduleName: string): Timers => {
    const guard = (fn: () => void | Promise<void>) => () => {
      if (closing) return;
      Promise.resolve()
        .then(fn)
        .catch((err) => log(`${moduleName}: background task failed: ${(err as Error).stack ?? err}`));
    };
    return {
      setTimeout(fn, ms) {
        const t = setTimeout(() => {
          timers.delete(t);
          guard(fn)();
        }, ms);
        timers.add(t);
        return t;
      },
      setInterval(fn, ms) {
        const t = setInterval(guard(fn), ms);
        timers.add(t);
        return t;
      },
      clear(t) {
        clearTimeout(t);
        timers.delete(t);
      },
    };
  };

  const makeHost = (module: SandboxModule<any>): ModuleHost<any> => {
    let moduleConfig: unknown = config.services[module.name] ?? {};
    if (module.configSchema) {
      const parsed = module.configSchema.safeParse(moduleConfig);
      if (!parsed.success) {
        throw new ConfigError(`config.services.${module.name}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(section)'}: ${i.message}`).join('; ')}`);
      }
      moduleConfig = parsed.data;
    }
    const route = <B, Q>(method: Method, pattern: string, opts: RouteOptions<B, Q>, handler: Handler<B, Q>): void =>
      router.add(module.name, method, pattern, opts, handler);
    const registrar = (method: Method) =>
      ((pattern: string, a: unknown, b?: unknown) => {
        if (typeof a === 'function') route(method, pattern, {}, a as Handler<unknown, unknown>);
        else route(method, pattern, a as RouteOptions<unknown, unknown>, b as Handler<unknown, unknown>);
      }) as ModuleHost['get'];
    return {
      name: module.name,
      config: moduleConfig,
      sandbox: config,
      stateDir,
      store,
      blobs: store.blobs.namespace(module.name),
      auth,
      faults,
      timers: makeTimers(module.name),
      baseUrl: () => baseUrl,
      closing: () => closing,
      get: registrar('GET'),
      post: registrar('POST'),
      put: registrar('PUT'),
      patch: registrar('PATCH'),
      delete: registrar('DELETE'),
      route,
      log: (message) => log(`${module.name}: ${message}`),
      expose: (api) => exposed.set(module.name, api),
      lookup: <T>(name: string) => exposed.get(name) as T | undefined,
    };
  };

  const collectStatus = async (): Promise<{ module: string; section: StatusSection }[]> => {
    const out: { module: string; section: StatusSection }[] = [];
    for (const { module, instance } of instances) {
      if (instance.status) out.push({ module, section: await instance.status() });
    }
    return out;
  };

  const modules: SandboxModule<any>[] = [
    authModule,
    adminModule({
      info: () => ({ url: baseUrl, pid: process.pid, stateDir, instanceId, startedAt, modules: instances.map((i) => i.module) }),
      status: collectStatus,
    }),
    ...(options.modules ?? serviceModules),
  ];
  const names = new Set<string>();
  for (const module of modules) {
    if (names.has(module.name)) throw new ConfigError(`two sandbox modules are named '${module.name}'`);
    names.add(module.name);
    const instance = (await module.setup(makeHost(module))) ?? {};
    instances.push({ module: module.name, instance });
    if (instance.close) closers.push(() => instance.close!());
  }
  closers.push(() => {
    closing = true;
    for (const t of timers) clearTimeout(t);
    timers.clear();
  });

  const server = createServer((req, res) => {
    void handle(req, res);
  });
  server.requestTimeout = 0; // uploads of several GB must not be cut off
  server.headersTimeout = 60_000;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const requestId = randomUUID();
    const began = Date.now();
    res.setHeader('x-request-id', requestId);
    const url = new URL(req.url ?? '/', baseUrl || 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    // The path as sent: URL parsing would resolve `..` segments before routing and hide traversal attempts.
    const target = req.url ?? '/';
    const rawPath = target.startsWith('/') ? target.split('?')[0]!.split('#')[0]! : url.pathname;
    res.on('close', () => {
      if (config.logRequests && rawPath !== '/sandbox/v1/health') log(`${method} ${rawPath} ${res.writableFinished ? res.statusCode : 'aborted'} ${Date.now() - began}ms ${requestId}`);
    });
    try {
      if (!rawPath.startsWith('/sandbox/v1/')) {
        const decision = faults.decide(method, rawPath);
        if (decision.latencyMs > 0) await new Promise((r) => setTimeout(r, decision.latencyMs));
        if (decision.kind === 'drop') {
          req.socket.destroy();
          return;
        }
        if (decision.kind === 'error') {
          const headers: Record<string, string> = {};
          if (decision.retryAfterSeconds !== undefined) headers['retry-after'] = String(decision.retryAfterSeconds);
          throw new ApiError(decision.status, decision.status === 429 ? 'rate_limited' : 'injected_fault', `Injected fault (rule '${decision.rule}'): ${decision.status}`, { headers });
        }
      }
      const { match, methods } = router.match(method, rawPath);
      if (!match) {
        if (methods.length > 0) {
          throw new ApiError(405, 'method_not_allowed', `${method} is not allowed on ${rawPath}; allowed: ${methods.join(', ')}`, { headers: { allow: methods.join(', ') } });
        }
        throw new ApiError(404, 'not_found', `No such endpoint: ${method} ${rawPath}`);
      }
      const { route, params } = match;
      const principal = auth.authenticate(req, route.options.auth ?? 'bearer');
      checkVersionParam(rawPath, url.searchParams);
      let query: unknown = Object.fromEntries(url.searchParams);
      if (route.options.query) {
        const parsed = route.options.query.safeParse(query);
        if (!parsed.success) throw validationError(parsed.error, 'query');
        query = parsed.data;
      }
      const body = await readBody(req, route.options, config.maxJsonBytes);
      const ctx: RequestContext<unknown, unknown> = {
        req,
        res,
        method: method as Method,
        path: safeDecodePath(rawPath),
        url,
        params,
        searchParams: url.searchParams,
        query,
        body,
        principal,
        requestId,
        baseUrl,
      };
      const result = await route.handler(ctx);
      if (result) await send(req, res, result);
    } catch (err) {
      sendError(req, res, requestId, err, log);
    }
  };

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  atomicWriteFileSync(
    endpointPath(stateDir),
    JSON.stringify({ url: baseUrl, port, pid: process.pid, stateDir, instanceId, startedAt }, null, 2) + '\n',
  );
  closers.push(() => rmSync(endpointPath(stateDir), { force: true }));
  log(`sandbox listening on ${baseUrl} (state ${stateDir})`);

  let closed: Promise<void> | undefined;
  return {
    url: baseUrl,
    port,
    stateDir,
    pid: process.pid,
    instanceId,
    startedAt,
    config,
    faults,
    status: collectStatus,
    close: () => (closed ??= (async () => {
      closing = true;
      await runClosers();
    })()),
  };
}

async function send(req: IncomingMessage, res: ServerResponse, result: Reply): Promise<void> {
  for (const [k, v] of Object.entries(result.headers ?? {})) res.setHeader(k, v);
  res.statusCode = result.status;
  const head = req.method === 'HEAD';
  if ('json' in result) {
    const text = JSON.stringify(result.json);
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.setHeader('content-length', Buffer.byteLength(text));
    res.end(head ? undefined : text);
  } else if ('text' in result) {
    if (!res.hasHeader('content-type')) res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.setHeader('content-length', Buffer.byteLength(result.text));
    res.end(head ? undefined : result.text);
  } else if ('stream' in result) {
    if (head) {
      result.stream.destroy();
      res.end();
      return;
    }
    try {
      await pipeline(result.stream, res);
    } catch {
      res.destroy();
    }
  } else {
    res.end();
  }
}

function sendError(req: IncomingMessage, res: ServerResponse, requestId: string, err: unknown, log: (line: string) => void): void {
  let status = 500;
  let code = 'internal_error';
  let message = 'Internal sandbox error';
  let headers: Record<string, string> = {};
  let target: { type: string; name: string } | undefined;
  if (err instanceof ApiError) {
    ({ status, code, message, headers, target } = err);
  } else {
    log(`internal error on ${req.method} ${req.url?.split('?')[0]} (${requestId}): ${(err as Error)?.stack ?? String(err)}`);
    message = `Internal sandbox error: ${(err as Error)?.message ?? String(err)}`;
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(envelope(requestId, status, code, message, target));
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  if (!req.complete) {
    // An error before the body was read (401, 404, 413…): answer, then discard the rest of the upload.
    res.setHeader('connection', 'close');
    req.resume();
  }
  res.end(text);
}
