import type { ProfileClients } from '../config/connect';
import { Space, SpaceList, type SpaceCreateRequest } from '../contracts/wml';
import { RunbookError, TimeoutError, ValidationError } from '../errors';
import type { HttpClient } from '../http/client';
import { PLANNED_ID, type MutationOptions } from '../plan';
import { DataAssets } from './assets';
import { byCreation, call, isAmbiguousFailure, isNotFound, makeContext, type WmlContext, type WmlOptions } from './context';

/**
 * Watson Machine Learning deployment spaces (ibm-api-contracts.md §2.2) and the entry to their data
 * assets. Works against a CPD cluster and the sandbox alike: only the profile differs.
 *
 * Find-or-create of a space by name: names are not unique, so two runs creating "the same" space at
 * once would make two. The rule is that the OLDEST space of a name (creation time, then id) is the
 * one; a run that created a younger twin deletes it. Because a listing may not yet show a space
 * created a moment ago, the decision waits until the oldest candidate is `settleMs` old on the
 * service's clock (see {@link ServerClock}); for any space older than that there is no wait.
 */

/** A space as the runbook sees it; `raw` is the service's document. */
export interface SpaceInfo {
  readonly id: string;
  readonly name: string;
  readonly description?: string;
  readonly tags: readonly string[];
  /** `preparing`, `active`, `failed`, … */
  readonly state: string;
  readonly createdAt: string;
  readonly raw: Space;
}

/** Options of {@link WmlClient.ensureSpace}. */
export interface EnsureSpaceOptions extends MutationOptions {
  readonly description?: string;
  readonly tags?: readonly string[];
  /** IBM Cloud only: the object storage and WML instance of a new space. */
  readonly storage?: SpaceCreateRequest['storage'];
  readonly compute?: SpaceCreateRequest['compute'];
  /** How long to wait for the space to become active (default 5 min). */
  readonly timeoutMs?: number;
}

/** The outcome of {@link WmlClient.ensureSpace}. */
export interface EnsureSpaceResult {
  readonly space: SpaceInfo;
  /** True when this call created the space. */
  readonly created: boolean;
  /** True in plan mode (nothing was created; the id is `(planned)` if it would have been). */
  readonly planned: boolean;
}

/** A space reached a failed state. */
export class SpaceFailedError extends RunbookError {
  constructor(readonly spaceId: string, readonly state: string) {
    super('remote', `space ${spaceId} is ${state}: the service could not prepare it; delete it and create it again, or ask the cluster administrator`);
  }
}

/** The runbook's view of a space document. */
export function spaceInfo(raw: Space): SpaceInfo {
  return {
    id: raw.metadata.id,
    name: raw.entity.name,
    description: raw.entity.description || undefined,
    tags: raw.entity.tags ?? [],
    state: raw.entity.status.state,
    createdAt: raw.metadata.created_at,
    raw,
  };
}

const FAILED_STATES = new Set(['failed', 'error', 'canceled']);

/** Spaces and data assets over one CPD client. Create with {@link createWmlClient}. */
export class WmlClient {
  private readonly ctx: WmlContext;

  constructor(http: HttpClient, options: WmlOptions = {}) {
    this.ctx = makeContext(http, options);
  }

  /** The data assets of a space. */
  assets(spaceId: string): DataAssets {
    return new DataAssets(this.ctx, spaceId);
  }

  /** Every space the user can see, oldest first; follows the `next` pages. */
  async listSpaces(opts: { pageSize?: number } = {}): Promise<SpaceInfo[]> {
    const out: SpaceInfo[] = [];
    let path: string | undefined = '/v2/spaces';
    let query: Record<string, number> | undefined = { limit: opts.pageSize ?? 100 };
    const seen = new Set<string>();
    while (path) {
      const page: SpaceList = await call(this.ctx, { path, query, schema: SpaceList });
      for (const s of page.resources) {
        this.ctx.clock.observe(s.metadata.created_at);
        out.push(spaceInfo(s));
      }
      const next = page.next?.href;
      // Stop on an empty page or a repeated link (the SDK's guard against endless paging).
      path = next && page.resources.length > 0 && !seen.has(next) ? next : undefined;
      if (next) seen.add(next);
      query = undefined;
    }
    return out.sort(byCreation);
  }

  /** One space by id; a 404 is a {@link "lib/http"!RemoteApiError | RemoteApiError}. */
  async getSpace(id: string): Promise<SpaceInfo> {
    const raw = await call(this.ctx, { path: `/v2/spaces/${encodeURIComponent(id)}`, schema: Space });
    this.ctx.clock.observe(raw.metadata.created_at);
    return spaceInfo(raw);
  }

  /** One space by id, or undefined when there is none. */
  async findSpace(id: string): Promise<SpaceInfo | undefined> {
    try {
      return await this.getSpace(id);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Every space named exactly `name`, oldest first. */
  async findSpacesByName(name: string): Promise<SpaceInfo[]> {
    return (await this.listSpaces()).filter((s) => s.name === name);
  }

  /** The space of that name find-or-create settles on (the oldest), or undefined. */
  async findSpaceByName(name: string): Promise<SpaceInfo | undefined> {
    return (await this.findSpacesByName(name))[0];
  }

  /**
   * Find-or-create a space by name and wait until it is active. Running it twice, or in two runs at
   * once, leaves exactly one space of that name. Plan mode creates nothing and records the creation.
   *
   * @example
   * const { space } = await wml.ensureSpace('deepliif-prod', { description: 'DeepLIIF models' });
   */
  async ensureSpace(name: string, opts: EnsureSpaceOptions = {}): Promise<EnsureSpaceResult> {
    if (!name || name.trim() !== name) throw new ValidationError(`space name ${JSON.stringify(name)}: expected a non-empty name without surrounding spaces`, [{ path: 'name', message: 'expected a non-empty name' }]);
    let candidates = await this.findSpacesByName(name);
    let createdId: string | undefined;
    if (candidates.length === 0) {
      if (opts.plan) {
        opts.plan.record({ service: 'wml', action: 'create', resource: 'space', target: name, detail: 'no space of that name' });
        const now = new Date().toISOString();
        const raw: Space = { metadata: { id: PLANNED_ID, created_at: now }, entity: { name, description: opts.description, tags: [...(opts.tags ?? [])], status: { state: 'preparing' } } };
        return { space: spaceInfo(raw), created: true, planned: true };
      }
      const created = await this.createSpace(name, opts);
      createdId = created.created ? created.space.id : undefined;
      candidates = [created.space];
    }
    // Settle on the oldest same-name space once no older one can still appear.
    for (;;) {
      const listed = await this.findSpacesByName(name);
      const mine = createdId ? candidates.find((c) => c.id === createdId) : undefined;
      if (mine && !listed.some((s) => s.id === mine.id)) listed.push(mine); // ours may not be listed yet
      candidates = listed.sort(byCreation);
      const oldest = candidates[0]!;
      const wait = this.ctx.clock.msUntil(Date.parse(oldest.createdAt) + this.ctx.settleMs);
      if (wait === 0) break;
      await this.ctx.sleep(Math.min(wait, this.ctx.settleMs));
    }
    const winner = candidates[0]!;
    if (createdId && winner.id !== createdId) await this.deleteSpace(createdId).catch(() => false);
    const space = opts.plan ? winner : await this.waitForSpace(winner.id, { timeoutMs: opts.timeoutMs });
    return { space, created: winner.id === createdId, planned: !!opts.plan };
  }

  /** `POST /v2/spaces`; after an ambiguous failure a same-name space is adopted instead of posting again blindly. */
  private async createSpace(name: string, opts: EnsureSpaceOptions): Promise<{ space: SpaceInfo; created: boolean }> {
    const body: SpaceCreateRequest = { name, generator: 'cpd-runbook' };
    if (opts.description !== undefined) body.description = opts.description;
    if (opts.tags) body.tags = [...opts.tags];
    if (opts.storage) body.storage = opts.storage;
    if (opts.compute) body.compute = opts.compute;
    for (let attempt = 1; ; attempt++) {
      try {
        const raw = await call(this.ctx, { method: 'POST', path: '/v2/spaces', body: body as Record<string, unknown>, schema: Space });
        this.ctx.clock.observe(raw.metadata.created_at);
        return { space: spaceInfo(raw), created: true };
      } catch (err) {
        if (!isAmbiguousFailure(err) || attempt >= 4) throw err;
        const found = await this.findSpacesByName(name);
        if (found.length > 0) return { space: found[0]!, created: false };
        await this.ctx.sleep(Math.min(2000, 100 * 2 ** attempt));
      }
    }
  }

  /** Polls a space until it is `active`; {@link SpaceFailedError} on failed/error/canceled, {@link TimeoutError} after `timeoutMs` (default 5 min). */
  async waitForSpace(id: string, opts: { timeoutMs?: number } = {}): Promise<SpaceInfo> {
    const timeoutMs = opts.timeoutMs ?? 300000;
    const deadline = performance.now() + timeoutMs;
    let delay = Math.min(50, this.ctx.pollMs);
    for (;;) {
      const space = await this.getSpace(id);
      if (space.state === 'active') return space;
      if (FAILED_STATES.has(space.state)) throw new SpaceFailedError(id, space.state);
      const left = deadline - performance.now();
      if (left <= 0) throw new TimeoutError(`space ${id} ("${space.name}") is still ${space.state} after ${timeoutMs} ms`);
      await this.ctx.sleep(Math.min(delay, left));
      delay = Math.min(delay * 2, this.ctx.pollMs);
    }
  }

  /** Deletes a space and its assets; false when it was already gone. Plan mode records the deletion of an existing space. */
  async deleteSpace(id: string, opts: MutationOptions = {}): Promise<boolean> {
    if (opts.plan) {
      const found = await this.findSpace(id);
      if (!found) return false;
      opts.plan.record({ service: 'wml', action: 'delete', resource: 'space', target: `${found.name} (${id})`, detail: 'with all its assets' });
      return true;
    }
    const res = await this.ctx.http.send({ method: 'DELETE', path: `/v2/spaces/${encodeURIComponent(id)}`, allowStatus: [404], responseType: 'text' });
    return res.status !== 404;
  }
}

/**
 * A WML client over a profile's CPD client (or any HttpClient based at the CPD URL).
 *
 * @example
 * const clients = connect(await resolveProfile());
 * const wml = createWmlClient(clients);
 * const assets = wml.assets(spaceId);
 * await assets.upload('deepliif-base', { overwrite: 'replace' });
 */
export function createWmlClient(clients: ProfileClients | HttpClient, options: WmlOptions = {}): WmlClient {
  const http = 'cpd' in clients ? clients.cpd : clients;
  return new WmlClient(http, options);
}
