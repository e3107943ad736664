import { randomUUID } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { extractTarSafely, zipFolder } from '../../../lib/archive';
import {
  ExecListQuery,
  ExecLogQuery,
  ExecSubmitQuery,
  TRAIN_RESULT_FILENAME,
  formatExecArgs,
  isTerminalExecState,
  redactExecArgs,
  type Batch,
  type DlpdConf,
} from '../../../lib/contracts/wmla-training';
import { ValidationError } from '../../../lib/errors';
import { ApiError, badRequest, conflict, payloadTooLarge } from '../../errors';
import { reply, type RequestContext } from '../../http/router';
import { receiveUpload } from '../../http/upload';
import { defineModule } from '../../module';
import { BlobTooLargeError, type BlobInfo } from '../../store';
import { FRAMEWORKS, parseExecArgs, type ExecPlan } from './args';
import { batchView, ExecDoc, execState, SequenceDoc, type ExecEntry } from './model';
import { isSameProcess, killGroup } from './processes';
import { appendSystemLine, describeExit, freePort, LOG_FILES, WorkerGroup } from './workers';

export const WmlaTrainingConfig = z.object({
  /** Exec ids are `<namespace>-<sequence>` (a real cluster uses its namespace, e.g. `cpd-wmla-14`). */
  namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/).default('sandbox-wmla'),
  /** How long an exec stays SUBMITTED before it is PENDING_CRD_SCHEDULER. */
  submittedMs: z.number().int().min(0).default(200),
  /** How long it stays PENDING_CRD_SCHEDULER before the workers start (RUNNING). */
  pendingMs: z.number().int().min(0).default(300),
  /** A worker that ends sooner still shows RUNNING until this long after it started (so pollers see it). */
  minRunningMs: z.number().int().min(0).default(1000),
  /** The interpreter that runs `--model-main` (and `python`/`python3` at the head of `--user-cmd`). */
  pythonPath: z.string().min(1).default('python3'),
  /** Most `--numWorker` accepted for distributed frameworks (each worker is a real process). */
  maxWorkers: z.number().int().min(1).default(4),
  /** Largest `file` part accepted (413 beyond). */
  maxUploadBytes: z.number().int().positive().default(2 * 1024 ** 3),
  /** Root of `--cs-datastore-meta data_path` (the WMLA data volume); default `<state>/wmla-data`. */
  dataRoot: z.string().min(1).optional(),
  /** Extra entries of `GET /conf` (dlpd.conf). */
  conf: z.record(z.string(), z.string()).default(() => ({})),
});
export type WmlaTrainingConfig = z.infer<typeof WmlaTrainingConfig>;

const BASE = '/platform/rest/deeplearning/v1';
const EXEC_ID = /^[a-z0-9-]+-\d+$/;
const ENV_FILE = 'launch-env.json';

/** The real API answers 400 (not 404) to an unknown exec id (ibm-api-contracts.md §4.1). */
const unknownExec = (): ApiError => new ApiError(400, 'exec_not_found', 'Cannot find task with given execId.');

/** What the first bytes of an upload say it is. */
function looksLikeTar(file: string, filename: string | undefined): boolean {
  const head = Buffer.alloc(512);
  const fd = openSync(file, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, 512, 0);
  } finally {
    closeSync(fd);
  }
  if (n >= 2 && head[0] === 0x1f && head[1] === 0x8b) return true; // gzip (dlicmd's .modelDir.tar is gzipped)
  if (n >= 262 && head.toString('latin1', 257, 262) === 'ustar') return true;
  return /\.(tar|tgz|tar\.gz)$/i.test(filename ?? '');
}

function listTop(dir: string, max = 10): string {
  const names = existsSync(dir) ? readdirSync(dir) : [];
  return names.length === 0 ? 'nothing' : names.slice(0, max).join(', ') + (names.length > max ? ', …' : '');
}

/**
 * WMLA deep-learning training (`/platform/rest/deeplearning/v1`, ibm-api-contracts.md §4): `conf`,
 * frameworks, and execs submitted with CLI-style `args` and an uploaded model folder. An exec
 * really runs: after SUBMITTED and PENDING_CRD_SCHEDULER, `numWorker` python processes run
 * `--model-main` in the extracted folder (RUNNING); exit code 0 of every worker is FINISHED, anything
 * else ERROR, a stop KILLED. Nothing is ever reported FINISHED that did not run.
 */
export const wmlaTrainingModule = defineModule({
  name: 'wmla-training',
  configSchema: WmlaTrainingConfig,
  async setup(host) {
    const cfg = host.config;
    const execs = await host.store.collection('wmla-execs', ExecDoc);
    const sequence = await host.store.collection('wmla-exec-sequence', SequenceDoc);
    const workRoot = join(host.stateDir, 'work', 'wmla-training');
    const dataRoot = cfg.dataRoot ?? join(host.stateDir, 'wmla-data');
    mkdirSync(workRoot, { recursive: true });
    const execDir = (id: string): string => join(workRoot, id);
    const logDir = (id: string): string => join(execDir(id), 'logs');
    const running = new Map<string, WorkerGroup>();
    const launchTimers = new Map<string, NodeJS.Timeout>();

    // Uploads are received as blobs and extracted at once: any blob left is from a kill mid-submit.
    await host.blobs.sweepUnreferenced(new Set());

    /** Records the final state once (a stop wins over the workers' exit); `lines` go to the exec's log. */
    const finish = async (id: string, end: NonNullable<ExecDoc['end']>, ...lines: string[]): Promise<void> => {
      await host.store.lock(async () => {
        const doc = execs.get(id);
        if (!doc || doc.end) return;
        for (const line of lines) appendSystemLine(logDir(id), line);
        rmSync(join(execDir(id), ENV_FILE), { force: true });
        await execs.put(id, { ...doc, end });
      });
    };

    const launch = async (id: string): Promise<void> => {
      launchTimers.delete(id);
      const doc = execs.get(id);
      if (!doc || doc.end || doc.startedAt !== undefined || host.closing()) return;
      const dir = execDir(id);
      let secretEnv: { name: string; value: string }[];
      try {
        secretEnv = z.array(z.object({ name: z.string(), value: z.string() })).parse(JSON.parse(readFileSync(join(dir, ENV_FILE), 'utf8')));
      } catch {
        await finish(id, { state: 'ERROR', at: Date.now(), reason: 'launch data lost' }, 'the launch data of this exec (its --msd-env values) is gone; it cannot start');
        return;
      }
      const resultDir = join(dir, 'result');
      mkdirSync(resultDir, { recursive: true });
      const ports = await Promise.all(Array.from({ length: doc.numWorker }, () => freePort()));
      const { command, args } = commandOf(doc.entry, cfg.pythonPath);
      const dist = doc.framework === 'distTensorFlow';
      const group = new WorkerGroup(
        {
          command,
          args,
          cwd: join(dir, doc.cwd),
          numWorker: doc.numWorker,
          logDir: logDir(id),
          env: (rank) => ({
            PYTHONUNBUFFERED: '1',
            RANK: String(rank),
            LOCAL_RANK: '0',
            WORLD_SIZE: String(doc.numWorker),
            MASTER_ADDR: '127.0.0.1',
            MASTER_PORT: String(ports[0]),
            ...(dist ? { TF_CONFIG: JSON.stringify({ cluster: { worker: ports.map((p) => `127.0.0.1:${p}`) }, task: { type: 'worker', index: rank } }) } : {}),
            RESULT_DIR: resultDir,
            EXEC_ID: id,
            ...(doc.dataPath !== undefined ? { DATA_DIR: join(dataRoot, doc.dataPath) } : {}),
            ...Object.fromEntries(secretEnv.map((e) => [e.name, e.value])),
          }),
        },
        (line) => appendSystemLine(logDir(id), line),
      );
      running.set(id, group);
      const startedAt = Date.now();
      await host.store.lock(async () => {
        rmSync(join(dir, ENV_FILE), { force: true }); // the secrets now live only in the workers' environment
        const current = execs.get(id);
        if (!current || current.end) group.kill(); // stopped or deleted while the workers were being started
        else await execs.put(id, { ...current, startedAt, workers: group.identities() });
      });
      const exits = await group.done;
      running.delete(id);
      if (host.closing()) return; // a restart decides what this exec became
      const failed = exits.filter((e) => e.error !== undefined || e.code !== 0);
      const at = Math.max(Date.now(), startedAt + cfg.minRunningMs);
      const exitCodes = exits.sort((a, b) => a.rank - b.rank).map((e) => e.code);
      if (failed.length === 0) {
        await finish(id, { state: 'FINISHED', at, reason: 'every worker exited with code 0', exitCodes }, `every worker exited with code 0: FINISHED`);
      } else {
        const missing = failed.find((e) => e.error !== undefined && e.error.includes('was not found'));
        const hint = missing ? ` (set config services.wmla-training.pythonPath)` : '';
        await finish(
          id,
          { state: 'ERROR', at, reason: failed.map(describeExit).join('; ') + hint, exitCodes },
          ...failed.map((e) => `worker ${e.rank} ended: ${describeExit(e)}`),
          `ERROR${hint}`,
        );
      }
    };

    const armLaunch = (doc: ExecDoc): void => {
      const timer = host.timers.setTimeout(
        () =>
          launch(doc.id).catch(async (err: Error) => {
            running.get(doc.id)?.kill();
            await finish(doc.id, { state: 'ERROR', at: Date.now(), reason: err.message }, `the workers could not be started: ${err.message}`);
          }),
        Math.max(0, doc.launchAt - Date.now()),
      );
      launchTimers.set(doc.id, timer);
    };

    // Recovery after a restart: workers do not survive their sandbox. An exec that was RUNNING is
    // ERROR (its processes, if a kill -9 left them, are killed now); one still waiting is re-armed.
    for (const doc of execs.values()) {
      if (doc.end) continue;
      if (doc.startedAt !== undefined) {
        for (const w of doc.workers) if (w.pid !== undefined && isSameProcess(w.pid, w.startTicks)) killGroup(w.pid);
        await finish(doc.id, { state: 'ERROR', at: Date.now(), reason: 'sandbox restarted while running' }, 'sandbox restarted while running: the workers were lost (the sandbox does not resume execs)');
      } else {
        armLaunch(doc);
      }
    }
    // Folders without a record: a delete or a submit cut short.
    for (const name of readdirSync(workRoot)) if (!execs.has(name)) rmSync(join(workRoot, name), { recursive: true, force: true });

    const visibleExec = (ctx: RequestContext<unknown, unknown>): ExecDoc => {
      const id = ctx.params.id!;
      const doc = EXEC_ID.test(id) ? execs.get(id) : undefined;
      if (!doc || doc.userName !== ctx.principal!.username) throw unknownExec();
      return doc;
    };

    const nextId = async (): Promise<{ id: string; seq: number }> => {
      const current = sequence.get('exec')?.next ?? Math.max(0, ...execs.values().map((e) => e.seq)) + 1;
      await sequence.put('exec', { next: current + 1 });
      return { id: `${cfg.namespace}-${current}`, seq: current };
    };

    // ---- routes -----------------------------------------------------------------------------------

    host.get(`${BASE}/conf`, () => {
      const conf: DlpdConf = { MSD_ENABLED: 'true', DLI_EDT_ENABLED: 'false', DLI_SHARED_FS: workRoot, ...cfg.conf };
      return reply.json(200, conf);
    });

    host.get(`${BASE}/execs/frameworks`, () =>
      reply.json(200, FRAMEWORKS.map(({ distributed: _d, ...wire }) => wire)),
    );

    host.post(`${BASE}/execs`, { body: 'stream', query: ExecSubmitQuery }, async (ctx) => {
      const plan = parseExecArgs(ctx.query.args, { maxWorkers: cfg.maxWorkers });
      const incoming = join(workRoot, `.incoming-${randomUUID()}`);
      try {
        const blob = await receiveFile(ctx, plan);
        const cwd = await prepareModelFolder(incoming, plan, blob);
        const doc = await host.store.lock(async () => {
          const { id, seq } = await nextId();
          const dir = execDir(id);
          renameSync(incoming, dir);
          writeFileSync(join(dir, ENV_FILE), JSON.stringify(plan.msdEnv), { mode: 0o600 });
          chmodSync(join(dir, ENV_FILE), 0o600);
          const createdAt = Date.now();
          const redacted = formatExecArgs(redactExecArgs(plan.tokens));
          const doc: ExecDoc = {
            id,
            seq,
            userName: ctx.principal!.username,
            args: redacted,
            framework: plan.framework.name,
            numWorker: plan.numWorker,
            appName: plan.appName ?? id,
            submissionId: randomUUID(),
            createdAt,
            pendingAt: createdAt + cfg.submittedMs,
            launchAt: createdAt + cfg.submittedMs + cfg.pendingMs,
            cwd,
            entry: entryOf(plan),
            dataPath: plan.dataPath,
            workers: [],
          };
          mkdirSync(logDir(id), { recursive: true });
          appendSystemLine(logDir(id), `exec ${id} submitted by ${doc.userName}: ${redacted}`);
          for (const note of plan.notes) appendSystemLine(logDir(id), note);
          await execs.put(id, doc);
          host.log(`exec ${id} submitted (${plan.framework.name}, ${plan.numWorker} worker(s))`);
          return doc;
        });
        armLaunch(doc); // outside the lock: the launch takes it itself
        return reply.json(200, batchView(doc));
      } finally {
        rmSync(incoming, { recursive: true, force: true });
      }
    });

    /** Receives the `file` part into a blob; undefined when there is none (allowed with --user-cmd only). */
    const receiveFile = async (ctx: RequestContext<unknown, unknown>, plan: ExecPlan): Promise<(BlobInfo & { filename?: string }) | undefined> => {
      let blob: (BlobInfo & { filename?: string }) | undefined;
      try {
        blob = await receiveUpload(ctx.req, 'file', async (stream, info) => ({ ...(await host.blobs.write(stream, { maxBytes: cfg.maxUploadBytes })), filename: info.filename }));
      } catch (err) {
        if (err instanceof BlobTooLargeError) throw payloadTooLarge(`file: the upload is larger than ${cfg.maxUploadBytes} bytes (config services.wmla-training.maxUploadBytes)`);
        if (err instanceof ApiError && err.code === 'missing_file_part' && plan.userCmd) return undefined;
        if (err instanceof ApiError && err.code === 'missing_file_part') {
          throw badRequest("file: the multipart part 'file' is required (the model folder as <dir>.modelDir.tar, or the script named by --model-main)", 'missing_file_part');
        }
        throw err;
      }
      if (blob.size === 0) {
        await host.blobs.delete(blob.key);
        if (plan.userCmd) return undefined;
        throw badRequest("file: the multipart part 'file' is required (the model folder as <dir>.modelDir.tar, or the script named by --model-main)", 'missing_file_part');
      }
      return blob;
    };

    /**
     * Puts the upload into `<incoming>/model/` (a tar is extracted safely, a single script is stored
     * under its --model-main name) and checks --model-main; answers the workers' cwd relative to the
     * exec folder.
     */
    const prepareModelFolder = async (incoming: string, plan: ExecPlan, blob: (BlobInfo & { filename?: string }) | undefined): Promise<string> => {
      const modelRoot = join(incoming, 'model');
      try {
        if (!blob) {
          mkdirSync(modelRoot, { recursive: true });
          return 'model';
        }
        const file = host.blobs.path(blob.key);
        let cwd = 'model';
        if (looksLikeTar(file, blob.filename)) {
          try {
            await extractTarSafely(file, modelRoot, { maxBytes: cfg.maxUploadBytes * 20 });
          } catch (err) {
            if (err instanceof ValidationError) throw badRequest(`file: ${err.message}`, 'invalid_archive');
            throw err;
          }
          const top = readdirSync(modelRoot);
          if (top.length === 1 && statSync(join(modelRoot, top[0]!)).isDirectory()) cwd = `model/${top[0]}`;
        } else {
          const name = plan.modelMain ?? 'upload';
          const target = join(modelRoot, name);
          mkdirSync(dirname(target), { recursive: true });
          copyFileSync(file, target);
        }
        if (plan.modelMain !== undefined) {
          const main = join(incoming, cwd, plan.modelMain);
          if (!existsSync(main) || !statSync(main).isFile()) {
            throw badRequest(`--model-main '${plan.modelMain}' does not exist in the uploaded model folder${plan.modelDir ? ` '${plan.modelDir}'` : ''} (it holds: ${listTop(join(incoming, cwd))})`, 'model_main_not_found');
          }
        }
        return cwd;
      } finally {
        if (blob) await host.blobs.delete(blob.key);
      }
    };

    const listHandler = (ctx: RequestContext<unknown, z.infer<typeof ExecListQuery>>) => {
      const now = Date.now();
      let list: Batch[] = execs.find((d) => d.userName === ctx.principal!.username).map((d) => batchView(d, now));
      if (ctx.query.state) {
        const wanted = new Set(ctx.query.state.split(',').map((s) => s.trim().toUpperCase()));
        list = list.filter((b) => wanted.has(b.state));
      }
      const [field, dir] = (ctx.query.sort_by ?? 'id:asc').split(':') as [string, string | undefined];
      const seqOf = (b: Batch): number => Number(b.id.slice(b.id.lastIndexOf('-') + 1));
      const key = (b: Batch): string | number => (field === 'id' || field === 'appId' ? seqOf(b) : String((b as Record<string, unknown>)[field] ?? ''));
      list.sort((a, b) => {
        const x = key(a);
        const y = key(b);
        const c = x < y ? -1 : x > y ? 1 : seqOf(a) - seqOf(b);
        return dir === 'desc' ? -c : c;
      });
      if (ctx.query.limit !== undefined) list = list.slice(0, ctx.query.limit);
      return reply.json(200, list);
    };
    host.get(`${BASE}/execs`, { query: ExecListQuery }, listHandler);

    host.delete(`${BASE}/execs`, async (ctx) =>
      host.store.lock(async () => {
        const mine = execs.find((d) => d.userName === ctx.principal!.username);
        const active = mine.filter((d) => !isTerminalExecState(execState(d)));
        if (active.length > 0) {
          throw conflict(`Cannot delete execs while some are active (${active.map((d) => `${d.id} ${execState(d)}`).join(', ')}); stop them first`, 'exec_active');
        }
        for (const doc of mine) await removeExec(doc.id);
        return reply.empty(204);
      }),
    );

    host.get(`${BASE}/execs/:id`, (ctx) => reply.json(200, batchView(visibleExec(ctx))));

    const removeExec = async (id: string): Promise<void> => {
      await execs.delete(id);
      rmSync(execDir(id), { recursive: true, force: true });
    };

    host.delete(`${BASE}/execs/:id`, async (ctx) =>
      host.store.lock(async () => {
        const doc = visibleExec(ctx);
        const state = execState(doc);
        if (!isTerminalExecState(state)) {
          throw conflict(`Cannot delete exec ${doc.id} while it is ${state}; stop it first (POST ${BASE}/execs/${doc.id}/stop)`, 'exec_active');
        }
        await removeExec(doc.id);
        host.log(`exec ${doc.id} deleted`);
        return reply.empty(204);
      }),
    );

    host.post(`${BASE}/execs/:id/stop`, async (ctx) =>
      host.store.lock(async () => {
        const doc = visibleExec(ctx);
        if (doc.end) {
          // Already ended (possibly still shown RUNNING for minRunningMs): reveal the final state now.
          if (doc.end.at > Date.now()) await execs.put(doc.id, { ...doc, end: { ...doc.end, at: Date.now() } });
          return reply.empty(204);
        }
        const timer = launchTimers.get(doc.id);
        if (timer) host.timers.clear(timer);
        launchTimers.delete(doc.id);
        const group = running.get(doc.id);
        group?.kill();
        await finish(doc.id, { state: 'KILLED', at: Date.now(), reason: `stopped by ${ctx.principal!.username}` }, `stop requested by ${ctx.principal!.username}: ${group ? 'workers killed' : 'the workers had not started'}; KILLED`);
        host.log(`exec ${doc.id} stopped`);
        return reply.empty(204);
      }),
    );

    host.get(`${BASE}/execs/:id/log`, { query: ExecLogQuery }, (ctx) => {
      const doc = visibleExec(ctx);
      const file = join(logDir(doc.id), LOG_FILES[ctx.query.logType]);
      const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
      return reply.text(200, text, { 'content-type': 'text/plain; charset=utf-8' });
    });

    host.get(`${BASE}/execs/:id/result`, (ctx) => {
      const doc = visibleExec(ctx);
      const state = execState(doc);
      if (state !== 'FINISHED') throw badRequest(`The result of exec ${doc.id} is available once it is FINISHED; it is ${state}.`, 'result_not_available');
      const resultDir = join(execDir(doc.id), 'result');
      mkdirSync(resultDir, { recursive: true });
      return reply.stream(200, zipFolder(resultDir), {
        'content-type': 'application/zip',
        'content-disposition': `attachment;filename=${TRAIN_RESULT_FILENAME}`,
      });
    });

    return {
      status: () => {
        const now = Date.now();
        const list = execs.values().sort((a, b) => a.seq - b.seq);
        return {
          title: 'WMLA training execs',
          lines: list.length === 0 ? ['no execs'] : list.map((d) => `${d.id}  ${execState(d, now)}  ${d.framework} × ${d.numWorker}  ${d.userName}`),
          data: list.map((d) => batchView(d, now)),
        };
      },
      close: async () => {
        for (const timer of launchTimers.values()) host.timers.clear(timer);
        launchTimers.clear();
        const groups = [...running.values()];
        for (const group of groups) group.kill();
        await Promise.all(groups.map((g) => g.done.catch(() => undefined)));
      },
    };
  },
});

function entryOf(plan: ExecPlan): ExecEntry {
  if (plan.userCmd) return { kind: 'command', argv: plan.userCmd };
  return { kind: 'script', script: plan.modelMain!, args: plan.scriptArgs };
}

/** The process to start: `python <script> <args>`, or the user command (`python`/`python3` → pythonPath). */
function commandOf(entry: ExecEntry, python: string): { command: string; args: string[] } {
  if (entry.kind === 'script') return { command: python, args: [entry.script, ...entry.args] };
  const [head, ...rest] = entry.argv;
  return { command: head === 'python' || head === 'python3' ? python : head!, args: rest };
}
