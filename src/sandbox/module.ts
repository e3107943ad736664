import type { z } from 'zod';
import type { AuthService } from './auth';
import type { SandboxConfig } from './config';
import type { FaultInjector } from './faults';
import type { Handler, Method, RouteOptions } from './http/router';
import type { BlobNamespace, Store } from './store';

/** One section of `runbook sandbox status`: a title, human lines, and JSON for `--json`. */
export interface StatusSection {
  title: string;
  lines: string[];
  data?: unknown;
}

/** What a module's setup may hand back: its status section and a shutdown hook. */
export interface ModuleInstance {
  status?(): StatusSection | Promise<StatusSection>;
  close?(): void | Promise<void>;
}

/** Registers a route on the module's behalf. With a body schema, `ctx.body` is typed from it. */
export interface RouteRegistrar {
  <B = undefined, Q = Record<string, string>>(pattern: string, options: RouteOptions<B, Q>, handler: Handler<B, Q>): void;
  (pattern: string, handler: Handler<undefined, Record<string, string>>): void;
}

/** Timers that the server clears on close, and whose errors are logged instead of crashing it. */
export interface Timers {
  setTimeout(fn: () => void | Promise<void>, ms: number): NodeJS.Timeout;
  setInterval(fn: () => void | Promise<void>, ms: number): NodeJS.Timeout;
  clear(timer: NodeJS.Timeout): void;
}

/** Everything a service module gets from the framework (see src/sandbox/README.md). */
export interface ModuleHost<C = unknown> {
  readonly name: string;
  /** This module's section of `config.services[name]`, parsed by its `configSchema`. */
  readonly config: C;
  /** The whole sandbox config (users, token TTL, limits). */
  readonly sandbox: SandboxConfig;
  readonly stateDir: string;
  /** Durable JSON collections and the mutation lock. */
  readonly store: Store;
  /** Blobs under `<state>/blobs/<module name>/`. */
  readonly blobs: BlobNamespace;
  readonly auth: AuthService;
  readonly faults: FaultInjector;
  readonly timers: Timers;
  /** `http://127.0.0.1:<port>` (valid once the server listens, i.e. inside handlers and timers). */
  baseUrl(): string;
  /** True once close() began: background work should stop touching the store. */
  closing(): boolean;
  get: RouteRegistrar;
  post: RouteRegistrar;
  put: RouteRegistrar;
  patch: RouteRegistrar;
  delete: RouteRegistrar;
  route<B, Q>(method: Method, pattern: string, options: RouteOptions<B, Q>, handler: Handler<B, Q>): void;
  /** A line on the sandbox log (stdout in process mode; silent in tests unless asked). */
  log(message: string): void;
  /** Offers an in-process API to other modules (e.g. WML deployments for OpenScale). */
  expose(api: unknown): void;
  /** Another module's exposed API, or undefined (resolve lazily: setup order is the list order). */
  lookup<T>(moduleName: string): T | undefined;
}

/**
 * A service module: a name, an optional config schema for `config.services[name]`, and a setup that
 * registers routes, opens collections and recovers state after a restart.
 */
export interface SandboxModule<C = unknown> {
  readonly name: string;
  readonly configSchema?: z.ZodType<C>;
  setup(host: ModuleHost<C>): Promise<ModuleInstance | void> | ModuleInstance | void;
}

/** Identity helper that keeps `C` inferred from the schema. */
export function defineModule<C>(module: SandboxModule<C>): SandboxModule<C> {
  return module;
}
