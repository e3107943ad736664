import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TimeoutError, ValidationError } from '../../src/lib/errors';
import { RemoteApiError } from '../../src/lib/http/errors';
import { Plan } from '../../src/lib/plan';
import { Redactor } from '../../src/lib/redact';
import { prepareSubmissionFolder, type PreparedSubmission } from '../../src/lib/wmla/submission';
import { ExecNotFoundError, TrainingFailedError, type TrainingProgress } from '../../src/lib/wmla/training';
import { readZip } from '../helpers/zip';
import { writeTree } from '../sandbox/wmla-fixtures';
import { startProxy } from '../helpers/proxy';
import { startWmlaFixture, type WmlaFixture } from './wmla-helpers';

/**
 * The training client against the sandbox over real HTTP: the sandbox really runs the submitted
 * folder in python worker processes, so FINISHED means the script ran, and the distPyTorch snippet
 * is exercised with a stand-in `torch` package that records the process-group call.
 */

let fx: WmlaFixture;
beforeAll(async () => {
  fx = await startWmlaFixture();
});
afterAll(async () => {
  await fx.close();
});

/** A stand-in for torch: no CUDA, and init_process_group prints what it was given. */
const FAKE_TORCH = {
  'torch/__init__.py': 'class cuda:\n    @staticmethod\n    def is_available():\n        return False\n',
  'torch/distributed.py': [
    '_done = False',
    'def is_initialized():',
    '    return _done',
    'def init_process_group(backend, init_method, rank, world_size):',
    '    global _done',
    '    _done = True',
    '    print("joined backend=%s init=%s rank=%d world=%d" % (backend, init_method, rank, world_size))',
  ].join('\n'),
};

let n = 0;
async function folder(files: Record<string, string>, opts: Partial<Parameters<typeof prepareSubmissionFolder>[0]> = {}): Promise<PreparedSubmission> {
  const src = join(fx.dir, `src-${++n}`);
  writeTree(src, files);
  return prepareSubmissionFolder({ files: [join(src, '*')], mainScript: 'train.py', ...opts });
}

async function execsNamed(appName: string): Promise<{ id: string; state: string }[]> {
  const res = await fx.sandbox.api.get('/platform/rest/deeplearning/v1/execs');
  return (res.json as { id: string; state: string; appName: string }[]).filter((b) => b.appName === appName).map((b) => ({ id: b.id, state: b.state }));
}

async function allExecIds(): Promise<string[]> {
  const res = await fx.sandbox.api.get('/platform/rest/deeplearning/v1/execs');
  return (res.json as { id: string }[]).map((b) => b.id).sort();
}

describe('training client', () => {
  it('reads conf and frameworks', async () => {
    const { training } = fx.client();
    expect((await training.conf()).MSD_ENABLED).toBe('true');
    expect((await training.frameworks()).map((f) => f.name)).toEqual(expect.arrayContaining(['PyTorch', 'distPyTorch']));
  });

  it('distPyTorch: each worker joins a gloo group at MASTER_ADDR:MASTER_PORT; secretEnv reaches the workers, never a URL; a resubmission finds the exec', async () => {
    const token = 'eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyIjoiYWRtaW4ifQ.c2lnbmF0dXJl';
    const sub = await folder(
      {
        ...FAKE_TORCH,
        'train.py': [
          '#!/usr/bin/env python',
          '"""Stand-in training script."""',
          'from __future__ import annotations',
          'import hashlib, os, sys',
          'print("rank %s of %s token-sha %s args %s" % (os.environ["RANK"], os.environ["WORLD_SIZE"], hashlib.sha256(os.environ["USER_ACCESS_TOKEN"].encode()).hexdigest(), sys.argv[1:]))',
          'open(os.path.join(os.environ["RESULT_DIR"], "rank%s.txt" % os.environ["RANK"]), "w").write("done")',
        ].join('\n'),
      },
      { framework: 'distPyTorch', secretEnv: { USER_ACCESS_TOKEN: token } },
    );
    const proxy = await startProxy(fx.sandbox.url);
    const { training } = fx.client(proxy.url);
    try {
      const options = { framework: 'distPyTorch', modelMain: 'train.py', numWorker: 2, msdEnv: { VOLUME_DISPLAY_NAME: 'Deep Data' }, scriptArgs: ['--epochs', '3'] };
      const first = await training.submit(sub, options);
      expect(first.outcome).toBe('submitted');
      expect(first.appName).toMatch(/^rb-distpytorch-[0-9a-f]{16}$/);
      expect(first.exec.appName).toBe(first.appName);
      const seen: TrainingProgress[] = [];
      const done = await training.follow(first.exec.id, { onProgress: (p) => seen.push(p) });
      expect(done.state).toBe('FINISHED');
      // States arrive in order: pending ones, then running, then the end; the phase never goes back.
      const phases = seen.map((p) => p.phase);
      const order = { pending: 0, running: 1, ended: 2 };
      expect(phases.every((p, i) => i === 0 || order[p] >= order[phases[i - 1]!])).toBe(true);
      expect(phases).toContain('running');
      expect(phases[phases.length - 1]).toBe('ended');
      expect(seen[0]!.previousState).toBeUndefined();
      const out = await training.logs(first.exec.id);
      const port = /init=tcp:\/\/127\.0\.0\.1:(\d+) rank=0 world=2/.exec(out)?.[1];
      expect(port).toBeDefined();
      expect(out).toContain(`[worker-0] joined backend=gloo init=tcp://127.0.0.1:${port} rank=0 world=2`);
      expect(out).toContain(`[worker-1] joined backend=gloo init=tcp://127.0.0.1:${port} rank=1 world=2`);
      const sha = createHash('sha256').update(token).digest('hex');
      expect(out).toContain(`rank 0 of 2 token-sha ${sha} args ['--epochs', '3']`);
      expect(out).toContain(`rank 1 of 2 token-sha ${sha}`);
      expect(await training.logs(first.exec.id, 'errlog')).toContain('FINISHED');
      // The result zip holds what the workers wrote.
      const zip = join(fx.dir, 'result.zip');
      await training.downloadResult(first.exec.id, zip);
      expect(await readZip(readFileSync(zip))).toEqual({ 'rank0.txt': 'done', 'rank1.txt': 'done' });

      // Find-or-submit: the same folder and options find the exec; other options submit anew.
      const again = await training.submit(sub, options);
      expect(again).toMatchObject({ outcome: 'existing', appName: first.appName });
      expect(again.exec.id).toBe(first.exec.id);
      expect(await execsNamed(first.appName)).toEqual([{ id: first.exec.id, state: 'FINISHED' }]);
      const other = await training.submit(sub, { ...options, scriptArgs: ['--epochs', '4'] });
      expect(other.outcome).toBe('submitted');
      expect(other.appName).not.toBe(first.appName);
      const forced = await training.submit(sub, options, { resubmit: true });
      expect(forced.outcome).toBe('submitted');
      expect((await execsNamed(first.appName)).length).toBe(2);
      for (const id of [other.exec.id, forced.exec.id]) await training.follow(id);

      // The token went in the request body (inside the gzipped archive), never in a URL or header.
      const submits = proxy.seen.filter((r) => r.method === 'POST' && r.url.includes('/execs'));
      expect(submits.length).toBe(3);
      for (const r of proxy.seen) {
        expect(decodeURIComponent(r.url)).not.toContain(token);
        expect(JSON.stringify(r.headers)).not.toContain(token);
      }
      expect(decodeURIComponent(submits[0]!.url)).toContain("--msd-env 'VOLUME_DISPLAY_NAME=Deep Data'");
      expect(decodeURIComponent(submits[0]!.url)).toContain('--model-dir submission --model-main train.py');
      expect(String(submits[0]!.headers['content-type'])).toMatch(/^multipart\/form-data; boundary=/);
    } finally {
      await proxy.close();
      await sub.cleanup();
    }
  });

  it('an ERROR exec: follow throws with the error log tail (or returns it with allowFailure); a later submit runs it again', async () => {
    const { training } = fx.client();
    const sub = await folder({ 'train.py': 'import sys\nprint("starting")\nraise ValueError("bad learning rate 42")\n' });
    try {
      const { exec, appName } = await training.submit(sub, { framework: 'PyTorch', modelMain: 'train.py' });
      const err = await training.follow(exec.id).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TrainingFailedError);
      expect((err as TrainingFailedError).exec.state).toBe('ERROR');
      expect((err as Error).message).toMatch(/ended ERROR/);
      expect((err as Error).message).toContain('ValueError: bad learning rate 42');
      expect((await training.follow(exec.id, { allowFailure: true })).state).toBe('ERROR');
      // ERROR and KILLED execs do not count as "already submitted".
      const retry = await training.submit(sub, { framework: 'PyTorch', modelMain: 'train.py' });
      expect(retry.outcome).toBe('submitted');
      expect(retry.exec.id).not.toBe(exec.id);
      expect((await execsNamed(appName)).map((e) => e.id)).toEqual([exec.id, retry.exec.id]);
      await training.follow(retry.exec.id, { allowFailure: true });
    } finally {
      await sub.cleanup();
    }
  });

  it('two identical submissions at once leave one exec (the older wins, the twin is stopped and deleted)', async () => {
    // Both look for an existing exec before either submits: the first two listings wait for each other.
    let arrived = 0;
    let release!: () => void;
    const bothListed = new Promise<void>((resolve) => (release = resolve));
    const proxy = await startProxy(fx.sandbox.url, {
      hold: (method, path) => {
        if (method !== 'GET' || !/\/execs\/?$/.test(path) || arrived >= 2) return undefined;
        if (++arrived === 2) release();
        return bothListed;
      },
    });
    const a = fx.client(proxy.url);
    const b = fx.client(proxy.url);
    const sub = await folder({ 'train.py': 'import time\ntime.sleep(1)\n' });
    try {
      const options = { framework: 'PyTorch', modelMain: 'train.py', appName: 'racing' };
      const [x, y] = await Promise.all([a.training.submit(sub, options), b.training.submit(sub, options)]);
      expect(x.exec.id).toBe(y.exec.id);
      expect([x.outcome, y.outcome].sort()).toEqual(['existing', 'submitted']);
      const left = await execsNamed('racing');
      expect(left.map((e) => e.id)).toEqual([x.exec.id]);
      // Both really submitted (neither saw the other's exec beforehand): the settling removed the twin.
      expect(proxy.seen.filter((r) => r.method === 'POST' && r.url.includes('/execs?')).length).toBe(2);
      expect(proxy.seen.filter((r) => r.method === 'DELETE').length).toBe(1);
      await a.training.follow(x.exec.id);
    } finally {
      await proxy.close();
      await sub.cleanup();
    }
  });

  it('runs a user command without a folder', async () => {
    const { training } = fx.client();
    const { exec } = await training.submit(undefined, { framework: 'PyTorch', userCmd: ['python3', '-c', 'print(6 * 7)'] });
    expect((await training.follow(exec.id)).state).toBe('FINISHED');
    expect(await training.logs(exec.id)).toContain('42');
    await expect(training.submit(undefined, { framework: 'PyTorch', modelMain: 'x.py' })).rejects.toThrow(/submission folder is required/);
  });

  it('follow times out naming the exec; stop, stop again, delete (refused while active unless stopFirst), delete again', async () => {
    const { training } = fx.client();
    const sub = await folder({ 'train.py': 'import time\nprint("sleeping", flush=True)\ntime.sleep(60)\n' });
    try {
      const a = await training.submit(sub, { framework: 'PyTorch', modelMain: 'train.py', appName: 'sleeper-a' });
      const err = await training.follow(a.exec.id, { timeoutMs: 300 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TimeoutError);
      expect((err as Error).message).toMatch(new RegExp(`training exec ${a.exec.id} is still (SUBMITTED|PENDING_CRD_SCHEDULER|RUNNING)`));
      const stopped = await training.stop(a.exec.id);
      expect(stopped).toMatchObject({ outcome: 'stopped', planned: false });
      expect(stopped.exec.state).toBe('KILLED');
      expect((await training.stop(a.exec.id)).outcome).toBe('already-ended');
      expect(await training.delete(a.exec.id)).toBe(true);
      expect(await training.delete(a.exec.id)).toBe(false);
      await expect(training.get(a.exec.id)).rejects.toBeInstanceOf(ExecNotFoundError);
      await expect(training.logs(a.exec.id)).rejects.toBeInstanceOf(ExecNotFoundError);

      const b = await training.submit(sub, { framework: 'PyTorch', modelMain: 'train.py', appName: 'sleeper-b' });
      await expect(training.delete(b.exec.id)).rejects.toThrow(/is (SUBMITTED|PENDING_CRD_SCHEDULER|RUNNING): stop it first/);
      expect(await training.delete(b.exec.id, { stopFirst: true })).toBe(true);
      expect(await execsNamed('sleeper-b')).toEqual([]);
    } finally {
      await sub.cleanup();
    }
  });

  it('plan mode reads but submits, stops and deletes nothing', async () => {
    const { training } = fx.client();
    const sub = await folder({ 'train.py': 'import time\ntime.sleep(60)\n' });
    try {
      const before = await allExecIds();
      const plan = new Plan();
      const planned = await training.submit(sub, { framework: 'PyTorch', modelMain: 'train.py', appName: 'planned-exec' }, { plan });
      expect(planned).toMatchObject({ outcome: 'submitted', planned: true, appName: 'planned-exec' });
      expect(planned.exec.id).toBe('(planned)');
      expect(await allExecIds()).toEqual(before);
      expect(plan.changes).toEqual([expect.objectContaining({ service: 'wmla-training', action: 'submit', target: 'planned-exec' })]);

      const real = await training.submit(sub, { framework: 'PyTorch', modelMain: 'train.py', appName: 'planned-exec' });
      const plan2 = new Plan();
      expect((await training.submit(sub, { framework: 'PyTorch', modelMain: 'train.py', appName: 'planned-exec' }, { plan: plan2 })).outcome).toBe('existing');
      expect((await training.stop(real.exec.id, { plan: plan2 })).planned).toBe(true);
      expect(await training.delete(real.exec.id, { plan: plan2, stopFirst: true })).toBe(true);
      expect(plan2.changes.map((c) => c.action)).toEqual(['stop', 'stop', 'delete']);
      const state = (await training.get(real.exec.id)).state;
      expect(['SUBMITTED', 'PENDING_CRD_SCHEDULER', 'RUNNING']).toContain(state);
      await training.delete(real.exec.id, { stopFirst: true });
    } finally {
      await sub.cleanup();
    }
  });

  it('refuses a secret in args before sending anything; allowed, it is masked in the echoed args and in errors', async () => {
    const secret = 'tok-0123456789abcdef';
    const redactor = new Redactor();
    const { training } = fx.client(fx.sandbox.url, redactor);
    const sub = await folder({ 'train.py': 'print(1)\n' });
    try {
      const before = await allExecIds();
      const err = await training.submit(sub, { framework: 'PyTorch', modelMain: 'train.py', msdEnv: { USER_ACCESS_TOKEN: secret } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as Error).message).toMatch(/msdEnv\.USER_ACCESS_TOKEN: looks like a credential.*URL query string/);
      expect((err as Error).message).not.toContain(secret);
      expect(await allExecIds()).toEqual(before);
      await expect(training.submit(sub, { framework: 'NoSuchFramework', modelMain: 'train.py' })).rejects.toThrow(/'NoSuchFramework' is not offered by this WMLA \(GET \/execs\/frameworks lists PyTorch, distPyTorch/);

      // Allowed: the service refuses (injected 500s) and the error shows the URL, with the token masked.
      await fx.faults([{ route: 'POST /platform/rest/deeplearning/v1/execs', errorRate: 1, statuses: [500] }]);
      let failure: unknown;
      try {
        await training.submit(sub, { framework: 'PyTorch', modelMain: 'train.py', msdEnv: { USER_ACCESS_TOKEN: secret } }, { allowSecretsInArgs: true });
      } catch (e) {
        failure = e;
      } finally {
        await fx.faults([]);
      }
      expect(failure).toBeInstanceOf(RemoteApiError);
      expect((failure as RemoteApiError).status).toBe(500);
      expect((failure as Error).message).toContain('args=');
      expect((failure as Error).message).not.toContain(secret);
      expect((failure as Error).message).not.toContain(encodeURIComponent(secret));
      expect(await allExecIds()).toEqual(before);

      const ok = await training.submit(sub, { framework: 'PyTorch', modelMain: 'train.py', msdEnv: { USER_ACCESS_TOKEN: secret } }, { allowSecretsInArgs: true });
      expect(ok.args).toContain("USER_ACCESS_TOKEN=***");
      expect(ok.exec.args).not.toContain(secret);
      expect(redactor.redact(`x ${secret} y`)).toBe('x *** y');
      await training.follow(ok.exec.id);
    } finally {
      await sub.cleanup();
    }
  });
});

describe('training client under faults', () => {
  it('retries GETs answered 503 while following; a POST answered 503 is looked up before it is sent again (one exec)', async () => {
    const { training, retries } = fx.client();
    const sub = await folder({ 'train.py': 'print("ok")\n' });
    try {
      await fx.faults([
        { route: 'POST /platform/rest/deeplearning/v1/execs', errorRate: 1, statuses: [503], retryAfterSeconds: 0, maxHits: 1 },
        { route: 'GET /platform/rest/deeplearning/v1/execs/*', errorRate: 1, statuses: [503, 502], retryAfterSeconds: 0, maxHits: 3 },
      ]);
      let result;
      try {
        result = await training.submit(sub, { framework: 'PyTorch', modelMain: 'train.py', appName: 'fault-503' });
        expect((await training.follow(result.exec.id)).state).toBe('FINISHED');
      } finally {
        var hits = await fx.faultHits();
        await fx.faults([]);
      }
      expect(hits).toEqual([1, 3]);
      expect(result.outcome).toBe('submitted');
      expect(await execsNamed('fault-503')).toEqual([{ id: result.exec.id, state: 'FINISHED' }]);
      expect(retries.filter((r) => r.method === 'GET').length).toBe(3);
      expect(retries.some((r) => r.method === 'POST')).toBe(false); // the client itself never re-sends a submission
    } finally {
      await sub.cleanup();
    }
  });

  it('adopts an exec whose answer was lost instead of submitting a twin', async () => {
    let lost = 0;
    const proxy = await startProxy(fx.sandbox.url, { decide: (method, path) => (method === 'POST' && /\/execs\/?$/.test(path) && lost++ === 0 ? 'lose-response' : 'pass') });
    const { training } = fx.client(proxy.url);
    const sub = await folder({ 'train.py': 'print("ok")\n' });
    try {
      const result = await training.submit(sub, { framework: 'PyTorch', modelMain: 'train.py', appName: 'lost-answer' });
      expect(lost).toBe(1);
      expect(proxy.seen.filter((r) => r.method === 'POST' && r.url.includes('/execs')).length).toBe(1);
      const execs = await execsNamed('lost-answer');
      expect(execs.map((e) => e.id)).toEqual([result.exec.id]);
      await training.follow(result.exec.id);
    } finally {
      await proxy.close();
      await sub.cleanup();
    }
  });
});
