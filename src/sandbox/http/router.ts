import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { z } from 'zod';
import { ApiError, badRequest } from '../errors';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';

/** Who made the request (from a verified token). */
export interface Principal {
  username: string;
  uid: string;
  /** The verified token itself, for handlers that pass it on (e.g. a kernel calling back). */
  token: string;
}

/**
 * How a route authenticates:
 * - `'bearer'` (default): `Authorization: Bearer <token>` minted by this sandbox, else 401.
 * - `'none'`: no check (health, token endpoints, pre-signed URLs that check their own signature).
 * - `{ headers }`: a bearer token OR a token in one of these headers (EDI's `X-Auth-Token`, `X-User-Token`).
 */
export type AuthMode = 'bearer' | 'none' | { headers: readonly string[] };

/**
 * What the framework does with the request body before the handler runs:
 * - a zod schema: read as JSON (or form when `bodyFormat: 'form'`), size-limited (413), parsed (400 on
 *   malformed JSON) and validated (400 naming the field); the handler gets `ctx.body` typed.
 * - `'stream'`: untouched; the handler reads `ctx.req` itself (uploads). Use {@link receiveUpload}.
 * - absent: the body is drained and ignored.
 */
export type BodySpec<B> = z.ZodType<B> | 'stream';

export interface RouteOptions<B = unknown, Q = Record<string, string>> {
  auth?: AuthMode;
  body?: BodySpec<B>;
  bodyFormat?: 'json' | 'form';
  /** Validates the query (an object of first values per name); 400 naming the parameter. */
  query?: z.ZodType<Q>;
}

export interface RequestContext<B = unknown, Q = Record<string, string>> {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: Method;
  /** The decoded-per-segment path as received (no query). */
  readonly path: string;
  readonly url: URL;
  /** Route parameters, URL-decoded (`%2F` in a `:param` becomes `/`; a `*tail` is the decoded rest). */
  readonly params: Record<string, string>;
  readonly searchParams: URLSearchParams;
  readonly query: Q;
  readonly body: B;
  /** Set when the route authenticated the caller. */
  readonly principal: Principal | undefined;
  readonly requestId: string;
  /** `http://127.0.0.1:<port>`: for absolute URLs in answers. */
  readonly baseUrl: string;
}

/** A handler's answer. A handler may also write `ctx.res` itself and return nothing. */
export type Reply =
  | { status: number; json: unknown; headers?: Record<string, string> }
  | { status: number; stream: Readable; headers?: Record<string, string> }
  | { status: number; text: string; headers?: Record<string, string> }
  | { status: number; empty: true; headers?: Record<string, string> };

export const reply = {
  json: (status: number, json: unknown, headers?: Record<string, string>): Reply => ({ status, json, headers }),
  stream: (status: number, stream: Readable, headers?: Record<string, string>): Reply => ({ status, stream, headers }),
  text: (status: number, text: string, headers?: Record<string, string>): Reply => ({ status, text, headers }),
  empty: (status = 204, headers?: Record<string, string>): Reply => ({ status, empty: true, headers }),
};

export type Handler<B = unknown, Q = Record<string, string>> = (ctx: RequestContext<B, Q>) => Promise<Reply | void> | Reply | void;

export interface Route {
  method: Method;
  pattern: string;
  segments: Segment[];
  options: RouteOptions<unknown, unknown>;
  handler: Handler<unknown, unknown>;
  module: string;
}

type Segment = { kind: 'literal'; value: string } | { kind: 'param'; name: string } | { kind: 'tail'; name: string };

function parsePattern(pattern: string): Segment[] {
  if (!pattern.startsWith('/')) throw new Error(`route pattern must start with '/': ${pattern}`);
  const parts = pattern.split('/').slice(1);
  return parts.map((part, i) => {
    if (part.startsWith(':')) return { kind: 'param', name: part.slice(1) };
    if (part.startsWith('*')) {
      if (i !== parts.length - 1) throw new Error(`'*${part.slice(1)}' must be the last segment of ${pattern}`);
      return { kind: 'tail', name: part.slice(1) };
    }
    return { kind: 'literal', value: part };
  });
}

function decode(segment: string, whole: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badRequest(`the path ${whole} is not validly percent-encoded`, 'invalid_path');
  }
}

export interface RouteMatch {
  route: Route;
  params: Record<string, string>;
}

/**
 * Method + path-pattern routing. Patterns: literal segments, `:name` (one segment) and a final `*name`
 * (zero or more segments). When several routes match, the one with more literal segments wins, then
 * the one without a tail; ties go to the first registered.
 */
export class Router {
  private readonly routes: Route[] = [];

  add<B, Q>(module: string, method: Method, pattern: string, options: RouteOptions<B, Q>, handler: Handler<B, Q>): void {
    const segments = parsePattern(pattern);
    if (this.routes.some((r) => r.method === method && r.pattern === pattern)) {
      throw new Error(`route ${method} ${pattern} is registered twice`);
    }
    this.routes.push({
      method,
      pattern,
      segments,
      options: options as RouteOptions<unknown, unknown>,
      handler: handler as Handler<unknown, unknown>,
      module,
    });
  }

  list(): readonly Route[] {
    return this.routes;
  }

  /** The best route for `method rawPath`; `methods` lists what the path allows when no method matched. */
  match(method: string, rawPath: string): { match?: RouteMatch; methods: Method[] } {
    const raw = rawPath.split('/').slice(1);
    let best: { match: RouteMatch; score: number } | undefined;
    const methods = new Set<Method>();
    for (const route of this.routes) {
      const params = matchSegments(route.segments, raw, rawPath);
      if (!params) continue;
      methods.add(route.method);
      if (route.method !== method && !(method === 'HEAD' && route.method === 'GET')) continue;
      const literals = route.segments.filter((s) => s.kind === 'literal').length;
      const score = literals * 2 + (route.segments.some((s) => s.kind === 'tail') ? 0 : 1) + (route.method === method ? 0.5 : 0);
      if (!best || score > best.score) best = { match: { route, params }, score };
    }
    return { match: best?.match, methods: [...methods] };
  }
}

function matchSegments(segments: Segment[], raw: string[], whole: string): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    if (seg.kind === 'tail') {
      params[seg.name] = raw.slice(i).map((s) => decode(s, whole)).join('/');
      return params;
    }
    const part = raw[i];
    if (part === undefined) return undefined;
    if (seg.kind === 'literal') {
      if (part !== seg.value) return undefined;
    } else {
      if (part === '') return undefined;
      params[seg.name] = decode(part, whole);
    }
  }
  // A trailing slash is tolerated (`/v2/spaces/` = `/v2/spaces`).
  const rest = raw.slice(segments.length);
  if (rest.length === 0 || (rest.length === 1 && rest[0] === '')) return params;
  return undefined;
}

export { ApiError };
