import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Batch,
  BatchList,
  DlpdConf,
  EXEC_ACTIVE_STATES,
  FrameworkList,
  formatExecArgs,
  redactExecArgs,
  tokenizeExecArgs,
} from '../../src/lib/contracts/wmla-training';
import { execState, type ExecDoc } from '../../src/sandbox/services/wmla-training/model';
import { wmlaTrainingModule } from '../../src/sandbox/services/wmla-training';
import { processStartTicks } from '../../src/sandbox/services/wmla-training/processes';
import { Store } from '../../src/sandbox/store';
import { Api, demoToken, expectIbmError, startTestSandbox, tempStateDir, type ApiResponse, type TestSandbox } from './helpers';
import { readZip } from '../helpers/zip';
import { multipartFile, rawTar, tarGzOf, waitFor, writeTree } from './wmla-fixtures';
import { isPidAlive } from '../../src/lib/util/detached-process';

const BASE = '/platform/rest/deeplearning/v1';
const SECRET = 'secret-token-value-4711';
const STATE_ORDER = ['SUBMITTED', 'PENDING_CRD_SCHEDULER', 'RUNNING', 'FINISHED', 'KILLED', 'ERROR'];

const FAST = { submittedMs: 100, pendingMs: 100, minRunningMs: 0 };

/** The training script of most tests: reports its environment, writes a result file, checks the token. */
const TRAIN_PY = `
import os, sys
rank = int(os.environ["RANK"])
print(f"rank={rank} world={os.environ['WORLD_SIZE']} master={os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}")
print("argv=" + " ".join(sys.argv[1:]))
print("token-ok" if os.environ.get("USER_ACCESS_TOKEN") == "${SECRET}" else "token-missing")
print("data=" + os.environ.get("DATA_DIR", "-"))
with open(os.path.join(os.environ["RESULT_DIR"], f"model-{rank}.txt"), "w") as f:
    f.write(f"weights of rank {rank}")
print("to stderr", file=sys.stderr)
`;

let work: string;
function jobFolder(name: string, files: Record<string, string>): string {
  return writeTree(join(mkdtempSync(join(work, 'job-')), name), files);
}

async function submit(api: Api, args: string, file?: Buffer, filename = 'job_submission.modelDir.tar', trailingSlash = true): Promise<ApiResponse> {
  return api.request('POST', `${BASE}/execs${trailingSlash ? '/' : ''}?args=${encodeURIComponent(args)}`, file ? { raw: multipartFile(file, filename) } : {});
}

async function stateOf(api: Api, id: string): Promise<string> {
  const res = await api.get(`${BASE}/execs/${id}`);
  expect(res.status).toBe(200);
  return Batch.parse(res.json).state;
}

/** Polls until the exec is in one of `states`, recording every state seen on the way. */
async function waitState(api: Api, id: string, states: string[], seen: string[] = []): Promise<string> {
  return waitFor(`exec ${id} to reach ${states.join('|')}`, async () => {
    const state = await stateOf(api, id);
    if (seen[seen.length - 1] !== state) seen.push(state);
    return states.includes(state) ? state : undefined;
  });
}

async function log(api: Api, id: string, logType: string): Promise<string> {
  const res = await api.get(`${BASE}/execs/${id}/log?logType=${logType}`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return res.text;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'wmla-training-test-'));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('args grammar (contract helpers)', () => {
  it('splits like shlex: quotes, escapes, no expansion', () => {
    expect(tokenizeExecArgs(`--exec-start distPyTorch  --model-main train.py --msd-env 'A=x y' --note "say \\"hi\\" \\$HOME" a\\ b $HOME;ls`)).toEqual([
      '--exec-start', 'distPyTorch', '--model-main', 'train.py', '--msd-env', 'A=x y', '--note', 'say "hi" $HOME', 'a b', '$HOME;ls',
    ]);
    expect(tokenizeExecArgs('  ')).toEqual([]);
    expect(tokenizeExecArgs(`a '' b`)).toEqual(['a', '', 'b']);
    expect(() => tokenizeExecArgs(`--appName 'oops`)).toThrow(/args: unterminated single quote/);
    expect(() => tokenizeExecArgs(`--appName "oops`)).toThrow(/unterminated double quote/);
    expect(() => tokenizeExecArgs('trailing\\')).toThrow(/trailing backslash/);
  });

  it('formats tokens that tokenize back to themselves', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: fc.constantFrom('a', ' ', "'", '"', '\\', '$', '=', '-', '\t', 'é') })), (tokens) => {
        expect(tokenizeExecArgs(formatExecArgs(tokens))).toEqual(tokens);
      }),
    );
  });

  it('redacts --msd-env values (both forms) and JWTs, and nothing else', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJ1c2VybmFtZSI6ImEifQ.c2lnbmF0dXJl';
    expect(redactExecArgs(['--msd-env', `USER_ACCESS_TOKEN=${SECRET}`, '--msd-env=BASE_URL=http://x', '--numWorker', '2', '--token', jwt])).toEqual([
      '--msd-env', 'USER_ACCESS_TOKEN=***', '--msd-env=BASE_URL=***', '--numWorker', '2', '--token', '***',
    ]);
  });

  it('derives the state from the timestamps', () => {
    const doc = { createdAt: 1000, pendingAt: 1100, launchAt: 1200, workers: [] } as unknown as ExecDoc;
    expect(execState(doc, 1050)).toBe('SUBMITTED');
    expect(execState(doc, 1150)).toBe('PENDING_CRD_SCHEDULER');
    expect(execState(doc, 5000)).toBe('PENDING_CRD_SCHEDULER'); // not started yet: still pending
    expect(execState({ ...doc, startedAt: 1200 }, 1300)).toBe('RUNNING');
    const ended = { ...doc, startedAt: 1200, end: { state: 'FINISHED' as const, at: 2000, reason: '' } };
    expect(execState(ended, 1500)).toBe('RUNNING'); // held for minRunningMs
    expect(execState(ended, 2000)).toBe('FINISHED');
  });
});

describe('Store.lock (the race a stop and an ending exec once had)', () => {
  it('is not re-entrant for work started inside a lock that runs after it was released', async () => {
    const stateDir = tempStateDir('store-lock-');
    try {
      const store = new Store(stateDir);
      const order: string[] = [];
      let later!: Promise<void>;
      await store.lock(() => {
        // A timer armed while holding the lock inherits its async context …
        later = new Promise<void>((resolve) => setTimeout(() => void store.lock(() => order.push('timer')).then(() => resolve()), 20));
      });
      // … and must still wait for another holder once the first lock was released.
      await store.lock(async () => {
        await new Promise((r) => setTimeout(r, 80));
        order.push('holder');
      });
      await later;
      expect(order).toEqual(['holder', 'timer']);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

describe('WMLA training over HTTP', () => {
  let sb: TestSandbox;
  let api: Api;
  const logLines: string[] = [];

  beforeAll(async () => {
    sb = await startTestSandbox({
      modules: [wmlaTrainingModule],
      config: {
        logRequests: true,
        users: [
          { username: 'admin', apiKey: 'sandbox-demo-api-key', password: 'sandbox-demo-password' },
          { username: 'bob', apiKey: 'bob-api-key' },
        ],
        services: { 'wmla-training': { ...FAST, maxWorkers: 3, dataRoot: join(tmpdir(), 'wmla-data-root') } },
      },
      log: (line) => logLines.push(line),
    });
    api = sb.api;
  });
  afterAll(async () => {
    await sb.close();
  });

  it('serves conf and the frameworks', async () => {
    const conf = await api.get(`${BASE}/conf`);
    expect(conf.status).toBe(200);
    expect(DlpdConf.parse(conf.json).MSD_ENABLED).toBe('true');
    const frameworks = await api.get(`${BASE}/execs/frameworks`);
    const names = FrameworkList.parse(frameworks.json).map((f) => f.name);
    expect(names).toEqual(expect.arrayContaining(['distPyTorch', 'PyTorch', 'tensorflow']));
    expectIbmError(await api.get(`${BASE}/conf`, { token: null }), 401);
  });

  it('runs a distPyTorch exec on 2 workers: states, logs, env, result zip, list, redaction', async () => {
    const folder = jobFolder('job_submission', { 'train.py': TRAIN_PY, 'lib/helper.py': 'X = 1\n' });
    const args = `--exec-start distPyTorch --numWorker 2 --workerDeviceNum 1 --workerMemory 8g --model-dir job_submission --model-main train.py --cs-datastore-meta type=fs,data_path=DeepLIIF_Datasets/ --msd-env USER_ACCESS_TOKEN=${SECRET} --epochs 3 --name "two words"`;
    const res = await submit(api, args, await tarGzOf(folder));
    expect(res.status).toBe(200);
    const batch = Batch.parse(res.json);
    expect(batch.id).toMatch(/^sandbox-wmla-\d+$/);
    expect(batch.appId).toBe(batch.id);
    expect(batch).toMatchObject({ framework: 'distPyTorch', numWorker: 2, userName: 'admin', creator: 'admin', elastic: false });
    expect(batch.createTime).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(EXEC_ACTIVE_STATES as readonly string[]).toContain(batch.state);
    expect(batch.args).toContain('USER_ACCESS_TOKEN=***');
    expect(batch.args).not.toContain(SECRET);

    const seen = [batch.state];
    expect(await waitState(api, batch.id, ['FINISHED', 'ERROR', 'KILLED'], seen)).toBe('FINISHED');
    const order = seen.map((s) => STATE_ORDER.indexOf(s));
    expect(order).toEqual([...order].sort((a, b) => a - b)); // never goes back

    const out = await log(api, batch.id, 'outlog');
    for (const rank of [0, 1]) {
      expect(out).toMatch(new RegExp(`\\[worker-${rank}\\] rank=${rank} world=2 master=127\\.0\\.0\\.1:\\d+`));
      expect(out).toContain(`[worker-${rank}] argv=--epochs 3 --name two words`);
      expect(out).toContain(`[worker-${rank}] token-ok`);
    }
    expect(out).toContain(`data=${join(tmpdir(), 'wmla-data-root', 'DeepLIIF_Datasets')}`);
    expect(out).not.toContain('to stderr');
    const err = await log(api, batch.id, 'errlog');
    expect(err).toContain('[worker-1] to stderr');
    expect(err).toContain('--workerDeviceNum 1: the sandbox has no GPUs');
    const both = await log(api, batch.id, 'outerrlog');
    expect(both).toContain('[worker-0] token-ok');
    expect(both).toContain('[worker-0] to stderr');
    expect(await log(api, batch.id, 'outlog')).toBe(out);

    const result = await fetch(`${sb.url}${BASE}/execs/${batch.id}/result`, { headers: { authorization: `Bearer ${api.token}` } });
    expect(result.status).toBe(200);
    expect(result.headers.get('content-disposition')).toBe('attachment;filename=train_result.zip');
    expect(await readZip(Buffer.from(await result.arrayBuffer()))).toEqual({ 'model-0.txt': 'weights of rank 0', 'model-1.txt': 'weights of rank 1' });

    const list = BatchList.parse((await api.get(`${BASE}/execs/?state=FINISHED`)).json);
    expect(list.map((b) => b.id)).toContain(batch.id);
    expect(list.every((b) => b.state === 'FINISHED')).toBe(true);

    // The secret is nowhere the sandbox writes: access log, module log, exec records.
    expect(logLines.some((l) => l.includes(`${BASE}/execs`))).toBe(true);
    expect(logLines.join('\n')).not.toContain(SECRET);
    const dataDir = join(sb.stateDir, 'data');
    for (const collection of readdirSync(dataDir)) {
      for (const f of readdirSync(join(dataDir, collection))) expect(readFileSync(join(dataDir, collection, f), 'utf8')).not.toContain(SECRET);
    }
    expect(await log(api, batch.id, 'errlog')).not.toContain(SECRET);
  });

  it('runs a single uploaded script and a --user-cmd with quoted arguments', async () => {
    const script = Buffer.from('import sys\nprint("single script", sys.argv[1:])\n');
    const single = Batch.parse((await submit(api, '--exec-start PyTorch --model-main solo.py --lr 0.1', script, 'solo.py', false)).json);
    const cmd = await submit(api, `--exec-start tensorflow --user-cmd -- python3 -c "print('from user cmd:', 6*7)"`);
    expect(cmd.status).toBe(200);
    const userCmd = Batch.parse(cmd.json);
    expect(await waitState(api, single.id, ['FINISHED', 'ERROR'])).toBe('FINISHED');
    expect(await log(api, single.id, 'outlog')).toContain("single script ['--lr', '0.1']");
    expect(await waitState(api, userCmd.id, ['FINISHED', 'ERROR'])).toBe('FINISHED');
    expect(await log(api, userCmd.id, 'outlog')).toContain('from user cmd: 42');
  });

  it('ends in ERROR when a worker fails, and has no result then', async () => {
    const folder = jobFolder('failing', { 'train.py': 'import sys\nprint("about to fail", file=sys.stderr)\nsys.exit(3)\n' });
    const batch = Batch.parse((await submit(api, '--exec-start PyTorch --model-dir failing --model-main train.py', await tarGzOf(folder))).json);
    expect(await waitState(api, batch.id, ['FINISHED', 'ERROR'])).toBe('ERROR');
    const err = await log(api, batch.id, 'errlog');
    expect(err).toContain('about to fail');
    expect(err).toContain('worker 0 ended: exit code 3');
    expectIbmError(await api.get(`${BASE}/execs/${batch.id}/result`), 400, 'available once it is FINISHED; it is ERROR');
  });

  it('stops a running exec (KILLED, processes gone), refuses to delete it while active, then deletes it', async () => {
    const folder = jobFolder('sleeper', {
      'train.py': 'import os, time\nopen(os.path.join(os.environ["RESULT_DIR"], f"pid-{os.environ[\'RANK\']}"), "w").write(str(os.getpid()))\nprint("sleeping", flush=True)\ntime.sleep(60)\n',
    });
    const batch = Batch.parse((await submit(api, '--exec-start distPyTorch --numWorker 2 --model-dir sleeper --model-main train.py', await tarGzOf(folder))).json);
    await waitState(api, batch.id, ['RUNNING']);
    const resultDir = join(sb.stateDir, 'work', 'wmla-training', batch.id, 'result');
    const pids = await waitFor('both workers to write their pid', async () => {
      const files = existsSync(resultDir) ? readdirSync(resultDir).filter((f) => f.startsWith('pid-')) : [];
      const values = files.map((f) => Number(readFileSync(join(resultDir, f), 'utf8')));
      return values.length === 2 && values.every((p) => p > 0) ? values : undefined;
    });
    expect(pids.every(isPidAlive)).toBe(true);

    expectIbmError(await api.delete(`${BASE}/execs/${batch.id}`), 409, 'while it is RUNNING');
    const stop = await api.post(`${BASE}/execs/${batch.id}/stop`);
    expect(stop.status).toBe(204);
    expect(await stateOf(api, batch.id)).toBe('KILLED');
    await waitFor('the workers to be gone', async () => (pids.some(isPidAlive) ? undefined : true));
    expect(await log(api, batch.id, 'errlog')).toContain('stop requested by admin: workers killed; KILLED');
    expect((await api.post(`${BASE}/execs/${batch.id}/stop`)).status).toBe(204); // idempotent
    expect(await stateOf(api, batch.id)).toBe('KILLED');

    expect((await api.delete(`${BASE}/execs/${batch.id}`)).status).toBe(204);
    expectIbmError(await api.get(`${BASE}/execs/${batch.id}`), 400, 'Cannot find task with given execId.');
    expect(existsSync(join(sb.stateDir, 'work', 'wmla-training', batch.id))).toBe(false);
  });

  it('answers 400 as the real API does to bad submissions and unknown execs', async () => {
    const folder = jobFolder('job', { 'train.py': 'print(1)\n' });
    const tar = await tarGzOf(folder);
    expectIbmError(await api.request('POST', `${BASE}/execs`, { raw: multipartFile(tar, 'job.modelDir.tar') }), 400, 'query.args');
    expectIbmError(await submit(api, `--exec-start PyTorch --model-main 'train.py`, tar), 400, 'unterminated single quote');
    expectIbmError(await submit(api, '--model-dir job --model-main train.py', tar), 400, '--exec-start is required');
    expectIbmError(await submit(api, '--exec-start caffe --model-dir job --model-main train.py', tar), 400, "--exec-start 'caffe' is not a framework");
    expectIbmError(await submit(api, '--exec-start PyTorch --numWorker 2', tar), 400, 'one of --model-dir, --model-main or --user-cmd is required');
    expectIbmError(await submit(api, '--exec-start PyTorch --model-dir job', tar), 400, '--model-dir needs --model-main');
    expectIbmError(await submit(api, '--exec-start PyTorch --model-dir job --model-main missing.py', tar), 400, "--model-main 'missing.py' does not exist in the uploaded model folder 'job' (it holds: train.py)");
    expectIbmError(await submit(api, '--exec-start PyTorch --model-main ../train.py', tar), 400, "'..'");
    expectIbmError(await submit(api, '--exec-start distPyTorch --numWorker 9 --model-dir job --model-main train.py', tar), 400, 'maxWorkers = 3');
    expectIbmError(await submit(api, '--exec-start PyTorch --numWorker two --model-main train.py', tar), 400, '--numWorker must be an integer');
    expectIbmError(await submit(api, '--exec-start PyTorch --model-main train.py --msd-env 1BAD=x', tar), 400, '--msd-env expects NAME=VALUE');
    expectIbmError(await submit(api, '--exec-start PyTorch --model-dir job --model-main train.py'), 400, "part 'file' is required");
    const evil = rawTar([{ name: 'job/train.py', body: 'print(1)' }, { name: '../escaped.txt', body: 'x' }]);
    expectIbmError(await submit(api, '--exec-start PyTorch --model-dir job --model-main train.py', evil), 400, "'..'");
    expect(existsSync(join(sb.stateDir, 'work', 'escaped.txt'))).toBe(false);
    expect(readdirSync(join(sb.stateDir, 'work', 'wmla-training')).filter((n) => n.startsWith('.incoming'))).toEqual([]);

    for (const [method, path] of [
      ['GET', `${BASE}/execs/sandbox-wmla-999`],
      ['DELETE', `${BASE}/execs/sandbox-wmla-999`],
      ['POST', `${BASE}/execs/sandbox-wmla-999/stop`],
      ['GET', `${BASE}/execs/sandbox-wmla-999/log?logType=outlog`],
      ['GET', `${BASE}/execs/no-such/result`],
    ] as const) {
      expectIbmError(await api.request(method, path), 400, 'Cannot find task with given execId.');
    }
    const first = BatchList.parse((await api.get(`${BASE}/execs?sort_by=id:asc&limit=1`)).json)[0]!;
    expectIbmError(await api.get(`${BASE}/execs/${first.id}/log?logType=everything`), 400, 'query.logType');
    expectIbmError(await api.get(`${BASE}/execs?sort_by=id;drop`), 400, 'query.sort_by');
  });

  it("lists, sorts and limits the caller's execs only", async () => {
    const mine = BatchList.parse((await api.get(`${BASE}/execs`)).json);
    expect(mine.length).toBeGreaterThanOrEqual(4);
    const seq = (b: Batch): number => Number(b.id.split('-').pop());
    const desc = BatchList.parse((await api.get(`${BASE}/execs?sort_by=id:desc`)).json);
    expect(desc.map(seq)).toEqual(mine.map(seq).sort((a, b) => b - a));
    expect(BatchList.parse((await api.get(`${BASE}/execs?sort_by=id:desc&limit=2`)).json).map((b) => b.id)).toEqual(desc.slice(0, 2).map((b) => b.id));

    const bob = new Api(sb.url, undefined);
    const res = await fetch(`${sb.url}/icp4d-api/v1/authorize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'bob', api_key: 'bob-api-key' }) });
    bob.token = ((await res.json()) as { token: string }).token;
    expect(BatchList.parse((await bob.get(`${BASE}/execs`)).json)).toEqual([]);
    expectIbmError(await bob.get(`${BASE}/execs/${mine[0]!.id}`), 400, 'Cannot find task with given execId.');
    expect((await bob.delete(`${BASE}/execs`)).status).toBe(204); // bob has nothing to delete …
    expect(BatchList.parse((await api.get(`${BASE}/execs`)).json).length).toBe(mine.length); // … and admin's survive
  });
});

describe('WMLA training without python', () => {
  it('ends in ERROR with a clear log line, never a fake FINISHED', async () => {
    const sb = await startTestSandbox({ modules: [wmlaTrainingModule], config: { services: { 'wmla-training': { ...FAST, pythonPath: '/nonexistent/python3' } } } });
    try {
      const folder = jobFolder('job', { 'train.py': 'print(1)\n' });
      const batch = Batch.parse((await submit(sb.api, '--exec-start PyTorch --model-dir job --model-main train.py', await tarGzOf(folder))).json);
      expect(await waitState(sb.api, batch.id, ['FINISHED', 'ERROR'])).toBe('ERROR');
      const err = await log(sb.api, batch.id, 'errlog');
      expect(err).toContain("'/nonexistent/python3' was not found");
      expect(err).toContain('services.wmla-training.pythonPath');
    } finally {
      await sb.close();
    }
  });
});

describe('WMLA training across a restart', () => {
  it('keeps finished execs, turns a running one into ERROR and starts a pending one', async () => {
    const stateDir = tempStateDir('wmla-training-restart-');
    const config = { services: { 'wmla-training': { submittedMs: 0, pendingMs: 1500, minRunningMs: 0 } } };
    const strays: ChildProcess[] = [];
    try {
      let sb = await startTestSandbox({ stateDir, modules: [wmlaTrainingModule], config });
      const quick = jobFolder('quick', { 'train.py': `import os\nprint("quick", os.environ.get("USER_ACCESS_TOKEN") == "${SECRET}")\nopen(os.path.join(os.environ["RESULT_DIR"], "r.txt"), "w").write("done")\n` });
      const sleeper = jobFolder('sleeper', { 'train.py': 'import os, time\nopen(os.path.join(os.environ["RESULT_DIR"], "pid"), "w").write(str(os.getpid()))\ntime.sleep(60)\n' });
      const finished = Batch.parse((await submit(sb.api, `--exec-start PyTorch --model-dir quick --model-main train.py --msd-env USER_ACCESS_TOKEN=${SECRET}`, await tarGzOf(quick))).json);
      const runningOne = Batch.parse((await submit(sb.api, '--exec-start PyTorch --model-dir sleeper --model-main train.py', await tarGzOf(sleeper))).json);
      expect(await waitState(sb.api, finished.id, ['FINISHED', 'ERROR'])).toBe('FINISHED');
      await waitState(sb.api, runningOne.id, ['RUNNING']);
      const pidFile = join(stateDir, 'work', 'wmla-training', runningOne.id, 'result', 'pid');
      const pid = await waitFor('the pid file', async () => (existsSync(pidFile) && statSync(pidFile).size > 0 ? Number(readFileSync(pidFile, 'utf8')) : undefined));
      const pending = Batch.parse((await submit(sb.api, `--exec-start PyTorch --model-dir quick --model-main train.py --msd-env USER_ACCESS_TOKEN=${SECRET}`, await tarGzOf(quick))).json);
      expect(pending.state).toBe('PENDING_CRD_SCHEDULER');
      await sb.close();
      expect(isPidAlive(pid)).toBe(false);

      // As if a kill -9 had left the worker behind: the record names a live process (pid + start time).
      // The restart kills it; a process whose start time does not match (a reused pid) is left alone.
      const orphan = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
      const bystander = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
      strays.push(orphan, bystander);
      const docFile = join(stateDir, 'data', 'wmla-execs', `${runningOne.id}.json`);
      const doc = JSON.parse(readFileSync(docFile, 'utf8'));
      doc.workers = [
        { rank: 0, pid: orphan.pid, startTicks: processStartTicks(orphan.pid!) },
        { rank: 1, pid: bystander.pid, startTicks: '1' },
      ];
      writeFileSync(docFile, JSON.stringify(doc));

      sb = await startTestSandbox({ stateDir, modules: [wmlaTrainingModule], config });
      await waitFor('the orphaned worker to be killed', async () => (orphan.exitCode === null && orphan.signalCode === null ? undefined : true));
      expect(orphan.signalCode).toBe('SIGKILL');
      expect(isPidAlive(bystander.pid!)).toBe(true);
      bystander.kill('SIGKILL');
      try {
        const api = new Api(sb.url, await demoToken(sb.url));
        expect(await stateOf(api, finished.id)).toBe('FINISHED');
        expect(await log(api, finished.id, 'outlog')).toContain('quick True');
        const zip = await fetch(`${sb.url}${BASE}/execs/${finished.id}/result`, { headers: { authorization: `Bearer ${api.token}` } });
        expect(await readZip(Buffer.from(await zip.arrayBuffer()))).toEqual({ 'r.txt': 'done' });

        expect(await stateOf(api, runningOne.id)).toBe('ERROR');
        expect(await log(api, runningOne.id, 'errlog')).toContain('sandbox restarted while running');

        expect(await waitState(api, pending.id, ['FINISHED', 'ERROR'])).toBe('FINISHED');
        expect(await log(api, pending.id, 'outlog')).toContain('quick True'); // its --msd-env value survived the restart
        expect(existsSync(join(stateDir, 'work', 'wmla-training', pending.id, 'launch-env.json'))).toBe(false);

        const next = Batch.parse((await submit(api, '--exec-start PyTorch --model-dir quick --model-main train.py', await tarGzOf(quick))).json);
        expect(Number(next.id.split('-').pop())).toBe(Number(pending.id.split('-').pop()) + 1);
        // Stopped while pending: KILLED at once, and the workers never start.
        expect((await api.post(`${BASE}/execs/${next.id}/stop`)).status).toBe(204);
        expect(await stateOf(api, next.id)).toBe('KILLED');
        expect(await log(api, next.id, 'errlog')).toContain('the workers had not started');
        await new Promise((r) => setTimeout(r, 1800));
        expect(await stateOf(api, next.id)).toBe('KILLED');
        expect(await log(api, next.id, 'outlog')).toBe('');
      } finally {
        await sb.close();
      }
    } finally {
      for (const p of strays) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
