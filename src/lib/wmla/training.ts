/**
 * WMLA deep-learning training (`/platform/rest/deeplearning/v1`, ibm-api-contracts.md §4) over the
 * profile's `wmlaConsole` client: submit a submission folder with typed options, follow an exec to
 * its end with progress, read its logs and result, stop and delete it. Works against a cluster and
 * the sandbox alike.
 *
 * Idempotent submission: an exec is not a named resource, so every exec gets an `--appName`, either
 * the caller's or `rb-<hash>` of the folder's content and the options. Before submitting, the
 * caller's execs are searched for that name: a running or FINISHED one is returned instead of
 * submitting again (KILLED and ERROR ones do not count, so a failed run can simply be run again).
 * Two runs submitting at the same moment are settled afterwards: the exec with the lowest
 * sequence number wins and the other is stopped and deleted.
 */
import { promises as fsp } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import type { ProfileClients } from '../config/connect';
import {
  Batch,
  BatchList,
  DlpdConf,
  FrameworkList,
  isTerminalExecState,
  redactExecArgs,
  formatExecArgs,
  type ExecLogType,
  type Framework,
} from '../contracts/wmla-training';
import { RunbookError, TimeoutError, ValidationError } from '../errors';
import type { HttpClient } from '../http/client';
import { RemoteApiError, isAmbiguousFailure } from '../http/errors';
import { writeTarGz } from '../archive/tarball';
import { PLANNED_ID, type MutationOptions } from '../plan';
import { fingerprintFolder } from './files';
import { formBody } from '../http/form-body';
import { looksSecret } from './secrets';
import { SECRET_ENV_FILE, type PreparedSubmission } from './submission';
import { msdEnvPairs, parseTrainingOptions, trainingArgTokens, type TrainingOptions, type TrainingOptionsInput } from './training-options';
import { Deadline, formatDuration, sleep } from './wait';

/** Base path of the training API on the WMLA console. */
export const TRAINING_API = '/platform/rest/deeplearning/v1';

/** dlicmd's summary of a state: waiting, running, or ended. */
export type ExecPhase = 'pending' | 'running' | 'ended';

const RUNNING_STATES = new Set(['LAUNCHING', 'RUNNING']);

/** The phase of an exec state (`PENDING_CRD_SCHEDULER` → pending, `RUNNING` → running, `FINISHED` → ended). */
export function execPhase(state: string): ExecPhase {
  if (isTerminalExecState(state)) return 'ended';
  return RUNNING_STATES.has(state) ? 'running' : 'pending';
}

/** Settings of a {@link TrainingClient}. */
export interface TrainingClientOptions {
  /** Poll interval of waits (default 2000 ms). */
  readonly pollMs?: number;
}

/** Options of {@link TrainingClient.submit}. */
export interface SubmitOptions extends MutationOptions {
  /** Submit even when an exec with the same appName is running or FINISHED (default false). */
  readonly resubmit?: boolean;
  /**
   * Allow credential-looking values in `msdEnv` and `scriptArgs`. They then travel in the URL query
   * string (the real API takes `args` there), which proxies and servers log. Default false; prefer
   * the submission folder's `secretEnv`.
   */
  readonly allowSecretsInArgs?: boolean;
  /** Skip checking `framework` against `GET /execs/frameworks` (default: check). */
  readonly skipFrameworkCheck?: boolean;
  /** Bytes of the archive sent so far. */
  readonly onUploadProgress?: (sentBytes: number, totalBytes: number) => void;
}

/** The outcome of {@link TrainingClient.submit}. */
export interface SubmitResult {
  /** The exec (for a planned submission, a stand-in with id `(planned)` and state `PLANNED`). */
  readonly exec: Batch;
  /** `submitted`: a new exec; `existing`: an exec of the same appName was found and returned. */
  readonly outcome: 'submitted' | 'existing';
  readonly appName: string;
  /** The `args` sent, with every `--msd-env` value shown as `***`. */
  readonly args: string;
  readonly planned: boolean;
}

/** One poll of {@link TrainingClient.follow}. */
export interface TrainingProgress {
  readonly id: string;
  readonly state: string;
  readonly phase: ExecPhase;
  /** The state of the previous poll (undefined on the first). */
  readonly previousState?: string;
  readonly elapsedMs: number;
  readonly exec: Batch;
}

/** Options of {@link TrainingClient.follow}. */
export interface FollowOptions {
  /** Give up with a TimeoutError after this long (default 2 h). */
  readonly timeoutMs?: number;
  /** Between polls (default the client's, 2 s). */
  readonly pollMs?: number;
  /** Called after every poll. */
  readonly onProgress?: (p: TrainingProgress) => void;
  /** Return an ERROR or KILLED exec instead of throwing {@link TrainingFailedError}. */
  readonly allowFailure?: boolean;
  readonly signal?: AbortSignal;
}

/** An exec ended ERROR or KILLED; the message carries the end of its error log. */
export class TrainingFailedError extends RunbookError {
  constructor(readonly exec: Batch, readonly logTail: string) {
    super('remote', `training exec ${exec.id}${exec.appName ? ` (${exec.appName})` : ''} ended ${exec.state}${logTail ? `; last lines of its error log:\n${logTail}` : ''}`);
  }
}

/** An exec id the service does not know (or that belongs to another user). */
export class ExecNotFoundError extends RunbookError {
  constructor(readonly id: string) {
    super('remote', `training exec ${id} was not found (it may have been deleted, or belong to another user)`);
  }
}

/** The result of {@link TrainingClient.stop}. */
export interface StopResult {
  readonly exec: Batch;
  /** `stopped`: this call stopped it; `already-ended`: it had ended before. */
  readonly outcome: 'stopped' | 'already-ended';
  readonly planned: boolean;
}

function seqOf(id: string): number {
  const n = Number(id.slice(id.lastIndexOf('-') + 1));
  return Number.isFinite(n) ? n : Number.MAX_SAFE_INTEGER;
}

/** Execs that count as "already there" for find-or-submit: active or FINISHED. */
function counts(b: Batch): boolean {
  return b.state !== 'KILLED' && b.state !== 'ERROR';
}

const execPath = (id: string): string => `${TRAINING_API}/execs/${encodeURIComponent(id)}`;

/** WMLA training execs over one console client. Create with {@link createTrainingClient}. */
export class TrainingClient {
  private readonly pollMs: number;

  constructor(readonly http: HttpClient, options: TrainingClientOptions = {}) {
    this.pollMs = options.pollMs ?? 2000;
  }

  /** `GET /conf`: the cluster's dlpd.conf (e.g. `MSD_ENABLED`). */
  conf(): Promise<DlpdConf> {
    return this.http.request({ path: `${TRAINING_API}/conf`, schema: DlpdConf });
  }

  /** `GET /execs/frameworks`: the names `framework` accepts. */
  frameworks(): Promise<Framework[]> {
    return this.http.request({ path: `${TRAINING_API}/execs/frameworks`, schema: FrameworkList });
  }

  /** The caller's execs, oldest first; `state` filters by one state or several. */
  async list(opts: { state?: string | readonly string[]; limit?: number } = {}): Promise<Batch[]> {
    const state = opts.state === undefined ? undefined : typeof opts.state === 'string' ? opts.state : opts.state.join(',');
    const list = await this.http.request({ path: `${TRAINING_API}/execs`, query: { state, limit: opts.limit }, schema: BatchList });
    return [...list].sort((a, b) => seqOf(a.id) - seqOf(b.id));
  }

  /** One exec; {@link ExecNotFoundError} when the service does not know it. */
  async get(id: string): Promise<Batch> {
    const found = await this.find(id);
    if (!found) throw new ExecNotFoundError(id);
    return found;
  }

  /** One exec, or undefined (the API answers 400 "Cannot find task with given execId." for an unknown id). */
  async find(id: string): Promise<Batch | undefined> {
    if (!id) throw new ValidationError('exec id: expected a non-empty id such as wmla-ns-14', [{ path: 'id', message: 'empty' }]);
    const res = await this.http.send({ path: execPath(id), schema: Batch, allowStatus: [400, 404] });
    return res.status === 400 || res.status === 404 ? undefined : (res.data as Batch);
  }

  /** The caller's execs named `appName`, oldest first. */
  async findByAppName(appName: string): Promise<Batch[]> {
    return (await this.list()).filter((b) => b.appName === appName);
  }

  /**
   * Submits a training exec: the folder is sent as a gzip tar `<name>.modelDir.tar` in the
   * multipart part `file` and the options as the `args` query string (see {@link renderTrainingArgs}).
   * Find-or-submit by appName (see the module comment). A submission cut off without an answer is
   * not sent again blindly: the execs are searched for its appName first. Plan mode still reads
   * (frameworks, existing execs) and records the submission.
   *
   * @example
   * const sub = await prepareSubmissionFolder({ files: ['train.py'], mainScript: 'train.py', framework: 'distPyTorch' });
   * const { exec } = await training.submit(sub, { framework: 'distPyTorch', modelMain: 'train.py', numWorker: 2 });
   * const done = await training.follow(exec.id, { onProgress: (p) => console.log(p.state) });
   */
  async submit(submission: PreparedSubmission | string | undefined, options: TrainingOptionsInput, opts: SubmitOptions = {}): Promise<SubmitResult> {
    const parsed = parseTrainingOptions(options, this.http.redactor);
    const dir = submission === undefined ? undefined : resolve(typeof submission === 'string' ? submission : submission.dir);
    if (dir === undefined && parsed.userCmd === undefined) {
      throw new ValidationError('submit: a submission folder is required unless userCmd is given', [{ path: 'submission', message: 'missing' }]);
    }
    if (dir !== undefined && !(await fsp.stat(dir).then((s) => s.isDirectory(), () => false))) {
      throw new ValidationError(`submit: ${dir} is not a folder`, [{ path: 'submission', message: 'not a folder' }]);
    }
    const modelDir = dir === undefined ? undefined : basename(dir);
    const ctx = { modelDir, known: this.http.redactor, allowSecretsInArgs: opts.allowSecretsInArgs };
    // Render once without an appName: this validates every value (secrets included) before any request.
    const baseTokens = trainingArgTokens({ ...parsed, appName: undefined }, ctx);
    if (opts.allowSecretsInArgs) {
      // They will be in the URL: at least keep them out of every message and error of this client.
      for (const { name, value } of msdEnvPairs(parsed.msdEnv)) if (looksSecret(name, value)) this.http.redactor.add(value);
    }
    if (!opts.skipFrameworkCheck) await this.checkFramework(parsed.framework);

    const appName = parsed.appName ?? (await this.derivedAppName(dir, parsed, baseTokens, submission));
    const tokens = trainingArgTokens({ ...parsed, appName }, ctx);
    const args = formatExecArgs(tokens);
    const shown = formatExecArgs(redactExecArgs(tokens));

    if (!opts.resubmit) {
      const existing = (await this.findByAppName(appName)).filter(counts);
      if (existing.length > 0) return { exec: existing[0]!, outcome: 'existing', appName, args: shown, planned: false };
    }
    if (opts.plan) {
      opts.plan.record({ service: 'wmla-training', action: 'submit', resource: 'exec', target: appName, detail: shown });
      const exec: Batch = { id: PLANNED_ID, appId: PLANNED_ID, state: 'PLANNED', appName, framework: parsed.framework, args: shown };
      return { exec, outcome: 'submitted', appName, args: shown, planned: true };
    }

    const exec = await this.post(dir, args, appName, opts);
    // Settle a race with a concurrent identical submission: the oldest exec of the name wins.
    if (!opts.resubmit) {
      const twins = (await this.findByAppName(appName)).filter(counts);
      const winner = twins[0];
      if (winner && winner.id !== exec.id && seqOf(winner.id) < seqOf(exec.id)) {
        await this.delete(exec.id, { stopFirst: true }).catch(() => undefined);
        return { exec: winner, outcome: 'existing', appName, args: shown, planned: false };
      }
    }
    return { exec, outcome: 'submitted', appName, args: shown, planned: false };
  }

  private async checkFramework(framework: string): Promise<void> {
    let list: Framework[];
    try {
      list = await this.frameworks();
    } catch (err) {
      if (err instanceof RemoteApiError && err.status === 404) return; // an older WMLA without the listing
      throw err;
    }
    if (!list.some((f) => f.name === framework)) {
      throw new ValidationError(`framework: '${framework}' is not offered by this WMLA (GET /execs/frameworks lists ${list.map((f) => f.name).join(', ') || 'nothing'})`, [
        { path: 'framework', message: 'not offered by the cluster' },
      ]);
    }
  }

  /** `rb-<hash>` of the folder content, the options (secret values left out) and the secretEnv names. */
  private async derivedAppName(dir: string | undefined, opts: TrainingOptions, tokens: readonly string[], submission: PreparedSubmission | string | undefined): Promise<string> {
    const hash = createHash('sha256');
    hash.update(dir ? await fingerprintFolder(dir, [SECRET_ENV_FILE]) : 'no-folder');
    const shown = [...tokens];
    for (let i = 0; i + 1 < shown.length; i++) {
      if (shown[i] !== '--msd-env') continue;
      const pair = shown[i + 1]!;
      const eq = pair.indexOf('=');
      if (looksSecret(pair.slice(0, eq), pair.slice(eq + 1), this.http.redactor)) shown[i + 1] = `${pair.slice(0, eq)}=***`;
    }
    hash.update('\0' + JSON.stringify(shown));
    if (submission !== undefined && typeof submission !== 'string') hash.update('\0' + submission.secretEnvNames.join(','));
    return `rb-${opts.framework.toLowerCase().replace(/[^a-z0-9]/g, '')}-${hash.digest('hex').slice(0, 16)}`;
  }

  /** POST /execs, with the lookup-before-resend rule for answers that never came. */
  private async post(dir: string | undefined, args: string, appName: string, opts: SubmitOptions): Promise<Batch> {
    let work: string | undefined;
    // A server that answers before reading the whole body leaves the stream unread: close what we opened.
    const opened: Readable[] = [];
    try {
      let body: ReturnType<typeof formBody> | undefined;
      if (dir !== undefined) {
        work = await mkdtemp(join(tmpdir(), 'cpd-runbook-exec-'));
        const name = `${basename(dir)}.modelDir.tar`;
        const tar = join(work, name);
        const { size } = await writeTarGz(dir, tar, { includeFolder: true });
        body = formBody([{ name: 'file', filename: name, file: tar, size, contentType: 'application/x-tar' }]);
      }
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.http.request({
            method: 'POST',
            path: `${TRAINING_API}/execs`,
            query: { args },
            ...(body
              ? {
                  body: () => {
                    const stream = body!.body();
                    opened.push(stream);
                    return stream;
                  },
                  contentLength: body.contentLength,
                  headers: { 'content-type': body.contentType },
                  onUploadProgress: opts.onUploadProgress ? (n: number) => opts.onUploadProgress!(n, body!.contentLength) : undefined,
                }
              : {}),
            schema: Batch,
          });
        } catch (err) {
          if (!isAmbiguousFailure(err) || attempt >= 3) throw err;
          // The exec may exist although the answer was lost: adopt it rather than submit a twin.
          const found = (await this.findByAppName(appName)).filter(counts);
          if (found.length > 0) return found[found.length - 1]!;
          await sleep(Math.min(2000, 200 * 2 ** attempt));
        }
      }
    } finally {
      for (const stream of opened) stream.destroy();
      if (work) await rm(work, { recursive: true, force: true });
    }
  }

  /**
   * Polls an exec until it ends. FINISHED returns the exec; ERROR and KILLED throw
   * {@link TrainingFailedError} with the end of the error log (unless `allowFailure`); after
   * `timeoutMs` a TimeoutError names the exec and its last state. The exec is left running then.
   */
  async follow(id: string, opts: FollowOptions = {}): Promise<Batch> {
    const deadline = new Deadline(opts.timeoutMs ?? 2 * 3600 * 1000);
    const pollMs = opts.pollMs ?? this.pollMs;
    let previous: string | undefined;
    for (;;) {
      const exec = await this.get(id);
      opts.onProgress?.({ id, state: exec.state, phase: execPhase(exec.state), previousState: previous, elapsedMs: deadline.elapsedMs, exec });
      previous = exec.state;
      if (isTerminalExecState(exec.state)) {
        if (exec.state === 'FINISHED' || opts.allowFailure) return exec;
        const tail = await this.logs(id, 'errlog').then(
          (text) => text.trimEnd().split('\n').slice(-15).join('\n'),
          () => '',
        );
        throw new TrainingFailedError(exec, this.http.redactor.redact(tail));
      }
      if (deadline.expired) {
        throw new TimeoutError(`training exec ${id} is still ${exec.state} after ${formatDuration(deadline.elapsedMs)} (timeout ${formatDuration(deadline.timeoutMs)}); it keeps running: follow it again or stop it`);
      }
      await sleep(Math.min(pollMs, Math.max(1, deadline.leftMs)), opts.signal);
    }
  }

  /** The exec's log: `outlog` (stdout, default), `errlog` (stderr) or `outerrlog` (both). Available while it runs. */
  async logs(id: string, logType: ExecLogType = 'outlog'): Promise<string> {
    const res = await this.http.send<string>({ path: `${execPath(id)}/log`, query: { logType }, responseType: 'text', headers: { accept: 'text/plain' }, allowStatus: [400] });
    if (res.status === 400) {
      if (!(await this.find(id))) throw new ExecNotFoundError(id);
      throw new RunbookError('remote', `GET ${TRAINING_API}/execs/${id}/log answered 400: ${res.data}`);
    }
    return res.data;
  }

  /** Downloads the result zip of a FINISHED exec to `file` (atomically). */
  async downloadResult(id: string, file: string): Promise<{ file: string; bytes: number }> {
    const target = resolve(file);
    const { bytes } = await this.http.downloadToFile({ path: `${execPath(id)}/result`, file: target, headers: { accept: 'application/zip, text/plain' } });
    return { file: target, bytes };
  }

  /**
   * Stops an exec and (unless `wait: false`) waits until it shows an end state. Stopping an exec
   * that already ended changes nothing (`already-ended`). Plan mode records the stop.
   */
  async stop(id: string, opts: MutationOptions & { wait?: boolean; timeoutMs?: number } = {}): Promise<StopResult> {
    const exec = await this.get(id);
    if (isTerminalExecState(exec.state)) return { exec, outcome: 'already-ended', planned: !!opts.plan };
    if (opts.plan) {
      opts.plan.record({ service: 'wmla-training', action: 'stop', resource: 'exec', target: id, detail: `${exec.appName ?? ''} is ${exec.state}`.trim() });
      return { exec, outcome: 'stopped', planned: true };
    }
    // Stopping twice is harmless, so the POST may be retried.
    await this.http.request({ method: 'POST', path: `${execPath(id)}/stop`, idempotent: true, responseType: 'text' });
    if (opts.wait === false) return { exec: await this.get(id), outcome: 'stopped', planned: false };
    const deadline = new Deadline(opts.timeoutMs ?? 120000);
    for (;;) {
      const now = await this.get(id);
      if (isTerminalExecState(now.state)) return { exec: now, outcome: 'stopped', planned: false };
      if (deadline.expired) throw new TimeoutError(`training exec ${id} is still ${now.state} ${formatDuration(deadline.elapsedMs)} after the stop request`);
      await sleep(Math.min(this.pollMs, 500, Math.max(1, deadline.leftMs)));
    }
  }

  /**
   * Deletes an exec with its logs and result; false when it was already gone. An active exec is
   * refused by the service: `stopFirst` stops it first. Plan mode records the deletion.
   */
  async delete(id: string, opts: MutationOptions & { stopFirst?: boolean } = {}): Promise<boolean> {
    const exec = await this.find(id);
    if (!exec) return false;
    if (!isTerminalExecState(exec.state)) {
      if (!opts.stopFirst) throw new RunbookError('remote', `training exec ${id} is ${exec.state}: stop it first (or pass stopFirst)`);
      if (opts.plan) opts.plan.record({ service: 'wmla-training', action: 'stop', resource: 'exec', target: id, detail: `it is ${exec.state}` });
      else await this.stop(id);
    }
    if (opts.plan) {
      opts.plan.record({ service: 'wmla-training', action: 'delete', resource: 'exec', target: id, detail: exec.appName });
      return true;
    }
    const res = await this.http.send({ method: 'DELETE', path: execPath(id), allowStatus: [400, 404], responseType: 'text' });
    return res.status !== 400 && res.status !== 404;
  }
}

/**
 * A training client over a profile's WMLA console client (a ConfigError names the missing setting
 * when the profile has none), or over any HttpClient based at the console URL.
 *
 * @example
 * const training = createTrainingClient(connect(await resolveProfile()));
 */
export function createTrainingClient(clients: ProfileClients | HttpClient, options: TrainingClientOptions = {}): TrainingClient {
  const http = 'require' in clients ? clients.require('wmlaConsole') : clients;
  return new TrainingClient(http, options);
}
