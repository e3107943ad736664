import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import busboy from 'busboy';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { tokenizeExecArgs } from '../../src/lib/contracts/wmla-training';
import { ValidationError } from '../../src/lib/errors';
import { Redactor } from '../../src/lib/redact';
import { expandPattern } from '../../src/lib/wmla/files';
import { formBody } from '../../src/lib/http/form-body';
import { buildDeploymentPackage, CONTENT_ATTRIBUTE, parseCustomArgs } from '../../src/lib/wmla/package';
import { desiredProfile } from '../../src/lib/wmla/profile-mapping';
import { insertPythonBlock, PROCESS_GROUP_MARKER, PROCESS_GROUP_SNIPPET } from '../../src/lib/wmla/python-patch';
import { prepareSubmissionFolder, SECRET_ENV_FILE } from '../../src/lib/wmla/submission';
import { execPhase } from '../../src/lib/wmla/training';
import { parseTrainingOptions, renderTrainingArgs, trainingArgTokens } from '../../src/lib/wmla/training-options';
import { writeTree } from '../sandbox/wmla-fixtures';
import { defaultProfile } from '../../src/sandbox/services/wmla-edi/model';

/**
 * The WMLA pieces that need no server: Python patching (checked by python3 itself), glob
 * expansion, the submission folder, exec options → args, the multipart body (parsed back by
 * busboy), resource_configs → app profile, and the EDI deployment package.
 */

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'wmla-local-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});
let n = 0;
const fresh = (name = 'case') => {
  const dir = join(root, `${name}-${++n}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};

/**
 * Asks python3 (one process for all) whether each source compiles, and for each its module
 * docstring and the kinds of its first statements (`ImportFrom:__future__`, `Import`, …).
 */
function pythonViews(sources: readonly string[]): { docstring: string | null; first: string[] }[] {
  const dir = fresh('py');
  const files = sources.map((source, i) => {
    const file = join(dir, `script${i}.py`);
    writeFileSync(file, source);
    return file;
  });
  const code = [
    'import ast, json, sys',
    'out = []',
    'for f in sys.argv[1:]:',
    '    src = open(f).read()',
    '    compile(src, f, "exec")',
    '    t = ast.parse(src)',
    '    out.append({"docstring": ast.get_docstring(t), "first": [type(s).__name__ + (":" + s.module if isinstance(s, ast.ImportFrom) else "") for s in t.body[:6]]})',
    'print(json.dumps(out))',
  ].join('\n');
  return JSON.parse(execFileSync('python3', ['-c', code, ...files], { encoding: 'utf8' }));
}

function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

async function expectValidation(p: Promise<unknown>, path: string | RegExp, message?: RegExp): Promise<ValidationError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ValidationError);
  const v = err as ValidationError;
  const paths = v.issues.map((i) => i.path).join(' ');
  if (typeof path === 'string') expect(paths).toContain(path);
  else expect(paths).toMatch(path);
  if (message) expect(v.message).toMatch(message);
  return v;
}

describe('insertPythonBlock', () => {
  const layouts: Record<string, string> = {
    plain: 'import os\nprint(os.getcwd())\n',
    shebang: '#!/usr/bin/env python\nimport sys\n',
    'shebang + encoding': '#!/usr/bin/env python\n# -*- coding: utf-8 -*-\nx = 1\n',
    'encoding on line 2 after a comment': '# a comment\n# coding=latin-1\nx = 1\n',
    'docstring + future': '#!/usr/bin/env python\n"""Train.\n\nMore words.\n"""\nfrom __future__ import annotations\nfrom __future__ import division\nimport os\n',
    'one-line docstring': "'''One line.'''\nimport os\n",
    'parenthesised future import': '"""Doc."""\n# comment\nfrom __future__ import (\n    annotations,\n    division,\n)\n\nimport os\n',
    'crlf': '#!/usr/bin/env python\r\n"""Doc."""\r\nfrom __future__ import annotations\r\nimport os\r\n',
    'no trailing newline': '"""Only a docstring."""',
    empty: '',
  };
  it('keeps every layout valid Python (checked by python3), the docstring a docstring, shebang/encoding/future imports first; never twice', () => {
    const names = Object.keys(layouts);
    const sources = names.map((k) => layouts[k]!);
    const patched = sources.map((src) => insertPythonBlock(src, PROCESS_GROUP_SNIPPET));
    const before = pythonViews(sources);
    const after = pythonViews(patched.map((p) => p.text));
    names.forEach((name, i) => {
      const source = sources[i]!;
      const { text, changed } = patched[i]!;
      expect({ name, changed }).toEqual({ name, changed: true });
      expect({ name, doc: after[i]!.docstring }).toEqual({ name, doc: before[i]!.docstring });
      const futures = before[i]!.first.filter((s) => s === 'ImportFrom:__future__').length;
      const skip = (before[i]!.docstring !== null ? 1 : 0) + futures;
      // The statements that had to come first still do, then the block's first import.
      expect({ name, head: after[i]!.first.slice(0, skip), next: after[i]!.first[skip] }).toEqual({ name, head: before[i]!.first.slice(0, skip), next: 'Import' });
      const lines = source.split(/\r?\n/);
      const out = text.split(/\r?\n/);
      if (source.startsWith('#!')) expect(out[0]).toBe(lines[0]);
      const enc = lines.findIndex((l) => /coding[:=]/.test(l));
      if (enc >= 0) expect(out[enc]).toBe(lines[enc]);
      if (source.includes('\r\n')) expect(text.replace(/\r\n/g, '')).not.toContain('\n');
      const again = insertPythonBlock(text, PROCESS_GROUP_SNIPPET);
      expect(again).toEqual({ text, changed: false });
      expect(count(again.text, PROCESS_GROUP_MARKER)).toBe(1);
    });
  });
});

describe('expandPattern', () => {
  let dir: string;
  beforeAll(() => {
    dir = fresh('glob');
    writeTree(dir, {
      'a.py': '1',
      'b.py': '2',
      'c.txt': '3',
      '.hidden.py': '4',
      'with space.py': '5',
      'pkg/x.py': '6',
      'pkg/deep/y.py': '7',
      'pkg/deep/z.txt': '8',
    });
  });
  it('matches *, ?, [..] and ** like a shell, without hidden names and without a shell', async () => {
    const rel = async (p: string) => (await expandPattern(p, dir)).map((f) => f.slice(dir.length + 1));
    expect(await rel('*.py')).toEqual(['a.py', 'b.py', 'with space.py']);
    expect(await rel('?.py')).toEqual(['a.py', 'b.py']);
    expect(await rel('[ab].py')).toEqual(['a.py', 'b.py']);
    expect(await rel('[!a].py')).toEqual(['b.py']);
    expect(await rel('.*.py')).toEqual(['.hidden.py']);
    expect(await rel('**/*.py')).toEqual(['a.py', 'b.py', 'pkg/deep/y.py', 'pkg/x.py', 'with space.py']);
    expect(await rel('pkg/*')).toEqual(['pkg/deep', 'pkg/x.py']);
    expect(await rel('with space.py')).toEqual(['with space.py']);
    expect(await rel('nothing-*.py')).toEqual([]);
    expect(await rel('missing.py')).toEqual([]);
  });
});

describe('prepareSubmissionFolder', () => {
  let src: string;
  beforeAll(() => {
    src = fresh('src');
    writeTree(src, {
      'train_command.py': 'import subprocess\nsubprocess.run(["python", "cli.py"])\n',
      'cli.py': '#!/usr/bin/env python\n"""DeepLIIF CLI."""\nfrom __future__ import annotations\nimport click\n',
      'util.py': 'X = 1\n',
      'notes.txt': 'n',
      'deepliif/__init__.py': '',
      'deepliif/models/net.py': 'class Net: pass\n',
      'other/util.py': 'X = 2\n',
    });
  });

  it('copies files and folders (a glob copies the folders it matches), patches the training script once, cleans up', async () => {
    const sub = await prepareSubmissionFolder({
      files: [join(src, '*.py'), join(src, 'notes.txt')],
      folders: [join(src, 'deepliif')],
      mainScript: 'train_command.py',
      processGroupScript: 'cli.py',
      framework: 'distPyTorch',
      name: 'job_submission',
    });
    try {
      expect(sub.name).toBe('job_submission');
      expect(sub.dir.endsWith('/job_submission')).toBe(true);
      expect(readdirSync(sub.dir).sort()).toEqual(['cli.py', 'deepliif', 'notes.txt', 'train_command.py', 'util.py']);
      expect(readFileSync(join(sub.dir, 'deepliif/models/net.py'), 'utf8')).toBe('class Net: pass\n');
      expect(sub.patched).toEqual(['cli.py']);
      const cli = readFileSync(join(sub.dir, 'cli.py'), 'utf8');
      expect(count(cli, PROCESS_GROUP_MARKER)).toBe(1);
      expect(cli).toContain("backend='nccl' if _cpd_runbook_torch.cuda.is_available() else 'gloo'");
      expect(cli).toContain("init_method='tcp://%s:%s' % (_cpd_runbook_os.environ['MASTER_ADDR'], _cpd_runbook_os.environ['MASTER_PORT'])");
      expect(cli).toContain("rank=int(_cpd_runbook_os.environ['RANK'])");
      expect(cli).toContain("world_size=int(_cpd_runbook_os.environ['WORLD_SIZE'])");
      expect(readFileSync(join(sub.dir, 'train_command.py'), 'utf8')).toBe(readFileSync(join(src, 'train_command.py'), 'utf8'));
      expect(readFileSync(join(src, 'cli.py'), 'utf8')).not.toContain(PROCESS_GROUP_MARKER); // the source is untouched
      expect(sub.files).toBe(6);
      // Preparing from an already patched folder does not add the snippet again.
      const again = await prepareSubmissionFolder({ files: [join(sub.dir, '*')], mainScript: 'train_command.py', processGroupScript: 'cli.py', framework: 'distPyTorch' });
      expect(again.patched).toEqual([]);
      expect(count(readFileSync(join(again.dir, 'cli.py'), 'utf8'), PROCESS_GROUP_MARKER)).toBe(1);
      await again.cleanup();
      expect(existsSync(again.dir)).toBe(false);
    } finally {
      await sub.cleanup();
    }
    expect(existsSync(sub.dir)).toBe(false);
  });

  it('PyTorch (not distributed) gets no snippet; a folder glob and a repeated source are fine', async () => {
    const sub = await prepareSubmissionFolder({ files: [join(src, 'cli.py'), join(src, 'c*.py')], folders: [join(src, 'deep*')], mainScript: 'cli.py', framework: 'PyTorch', cwd: src });
    expect(sub.patched).toEqual([]);
    expect(readdirSync(sub.dir).sort()).toEqual(['cli.py', 'deepliif']);
    await sub.cleanup();
  });

  it('refuses what the predecessor skipped or mangled, naming the entry', async () => {
    await expectValidation(prepareSubmissionFolder({ files: [join(src, 'nope-*.py')] }), 'files[0]', /matches nothing/);
    await expectValidation(prepareSubmissionFolder({ files: [join(src, 'deepliif')] }), 'files[0]', /is a folder: list it under folders/);
    await expectValidation(prepareSubmissionFolder({ folders: [join(src, 'util.py')] }), 'folders[0]', /is a file/);
    await expectValidation(prepareSubmissionFolder({ files: [join(src, 'util.py'), join(src, 'other/util.py')] }), 'files[1]', /would both be 'util.py'/);
    await expectValidation(prepareSubmissionFolder({ files: [join(src, 'util.py')], mainScript: 'train.py' }), 'mainScript', /'train.py' is not in the submission folder \(it holds: util.py\)/);
    await expectValidation(prepareSubmissionFolder({ files: [join(src, 'util.py')], framework: 'distPyTorch' }), 'mainScript', /distPyTorch needs/);
    await expectValidation(prepareSubmissionFolder({ files: [join(src, 'util.py')], mainScript: '../util.py' }), 'mainScript');
    await expectValidation(prepareSubmissionFolder({ files: [] }), 'files');
    await expectValidation(prepareSubmissionFolder({ files: [join(src, 'util.py')], name: 'a b' }), 'name');
  });

  it('follows links (nothing in the folder points out), refuses a link loop, never overwrites a folder of the caller', async () => {
    const dir = fresh('links');
    writeTree(dir, { 'real/data.txt': 'data', 'loop/x.txt': 'x' });
    symlinkSync(join(dir, 'real'), join(dir, 'alias'));
    symlinkSync(join(dir, 'loop'), join(dir, 'loop', 'again'));
    const sub = await prepareSubmissionFolder({ folders: [join(dir, 'alias')] });
    const copied = join(sub.dir, 'alias');
    expect(statSync(copied).isDirectory()).toBe(true);
    expect(readFileSync(join(copied, 'data.txt'), 'utf8')).toBe('data');
    expect(execFileSync('find', [sub.dir, '-type', 'l'], { encoding: 'utf8' })).toBe('');
    await sub.cleanup();
    await expectValidation(prepareSubmissionFolder({ folders: [join(dir, 'loop')] }), /loop/, /link loop/);
    // An existing target folder is an error unless replace is set; the caller's folder survives.
    const parent = fresh('parent');
    writeTree(parent, { 'submission/keep.txt': 'mine' });
    await expectValidation(prepareSubmissionFolder({ files: [join(dir, 'real/data.txt')], parentDir: parent }), 'name', /already exists/);
    expect(readFileSync(join(parent, 'submission/keep.txt'), 'utf8')).toBe('mine');
    const replaced = await prepareSubmissionFolder({ files: [join(dir, 'real/data.txt')], parentDir: parent, replace: true });
    expect(readdirSync(replaced.dir)).toEqual(['data.txt']);
    await replaced.cleanup();
    expect(existsSync(join(parent))).toBe(true);
  });

  it('secretEnv: a 0600 file in the folder and a loader in the main script that python really runs', async () => {
    const dir = fresh('secret');
    writeTree(dir, { 'pkg/main.py': '"""Main."""\nimport os\nprint(os.environ["API_TOKEN"], os.environ["PRESET"])\n' });
    const sub = await prepareSubmissionFolder({ folders: [join(dir, 'pkg')], mainScript: 'pkg/main.py', secretEnv: { API_TOKEN: 's3cr3t-value', PRESET: 'from-file' } });
    const file = join(sub.dir, SECRET_ENV_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ API_TOKEN: 's3cr3t-value', PRESET: 'from-file' });
    expect(sub.secretEnvNames).toEqual(['API_TOKEN', 'PRESET']);
    expect(readFileSync(join(sub.dir, 'pkg/main.py'), 'utf8')).not.toContain('s3cr3t-value');
    const env: NodeJS.ProcessEnv = { ...process.env, PRESET: 'from-environment' };
    delete env.API_TOKEN;
    const out = execFileSync('python3', [join(sub.dir, 'pkg/main.py')], { encoding: 'utf8', env, cwd: tmpdir() });
    expect(out.trim()).toBe('s3cr3t-value from-environment'); // variables already set win
    await sub.cleanup();
    const err = await expectValidation(prepareSubmissionFolder({ folders: [join(dir, 'pkg')], secretEnv: { API_TOKEN: 's3cr3t-value' } }), 'secretEnv');
    const bad = await expectValidation(prepareSubmissionFolder({ folders: [join(dir, 'pkg')], mainScript: 'pkg/main.py', secretEnv: { 'BAD NAME': 's3cr3t-value' } as never }), /secretEnv/);
    for (const e of [err, bad]) expect(JSON.stringify({ m: e.message, i: e.issues })).not.toContain('s3cr3t-value');
  });
});

describe('training options → args', () => {
  it('renders every flag in a fixed order, quoted so that the contract tokenizer gives the values back', () => {
    const opts = parseTrainingOptions({
      framework: 'distPyTorch',
      modelMain: 'train_command.py',
      numWorker: 2,
      workerDeviceType: 'gpu',
      workerDeviceNum: 1,
      workerMemory: '8g',
      csDatastoreMeta: { dataPath: 'DeepLIIF Datasets/' },
      msdEnv: { VOLUME_DISPLAY_NAME: "Deep 'LIIF' Data", BASE_URL: 'https://cpd.example.com' },
      condaEnvName: 'dlipy3',
      appName: 'deepliif-train',
      scriptArgs: ['--epochs', '3', '--name', 'a b;rm -rf $HOME'],
    });
    const args = renderTrainingArgs(opts, { modelDir: 'job_submission' });
    expect(tokenizeExecArgs(args)).toEqual([
      '--exec-start', 'distPyTorch',
      '--appName', 'deepliif-train',
      '--numWorker', '2',
      '--workerDeviceType', 'gpu',
      '--workerDeviceNum', '1',
      '--workerMemory', '8g',
      '--conda-env-name', 'dlipy3',
      '--model-dir', 'job_submission',
      '--model-main', 'train_command.py',
      '--cs-datastore-meta', 'type=fs,data_path=DeepLIIF Datasets/',
      '--msd-env', "VOLUME_DISPLAY_NAME=Deep 'LIIF' Data",
      '--msd-env', 'BASE_URL=https://cpd.example.com',
      '--epochs', '3', '--name', 'a b;rm -rf $HOME',
    ]);
    const cmd = trainingArgTokens(parseTrainingOptions({ framework: 'PyTorch', userCmd: ['python3', '-c', 'print(1)'], msdEnv: ['A=1=2'] }));
    expect(cmd).toEqual(['--exec-start', 'PyTorch', '--msd-env', 'A=1=2', '--user-cmd', '--', 'python3', '-c', 'print(1)']);
  });

  it('refuses credentials in args (they travel in the URL) without quoting them, unless allowed', () => {
    const token = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlX2hlcmU';
    const known = new Redactor(['profile-api-key-123']);
    const cases: [Record<string, unknown>, string][] = [
      [{ msdEnv: { USER_ACCESS_TOKEN: 'plain-looking' } }, 'msdEnv.USER_ACCESS_TOKEN'],
      [{ msdEnv: { HARMLESS_NAME: token } }, 'msdEnv.HARMLESS_NAME'],
      [{ msdEnv: [`CPD_API_KEY=x1234`] }, 'msdEnv.CPD_API_KEY'],
      [{ msdEnv: { OTHER: 'profile-api-key-123' } }, 'msdEnv.OTHER'],
      [{ scriptArgs: ['--token', token] }, 'scriptArgs[1]'],
    ];
    for (const [extra, path] of cases) {
      const opts = parseTrainingOptions({ framework: 'PyTorch', modelMain: 'm.py', ...extra } as never);
      let err: unknown;
      try {
        renderTrainingArgs(opts, { known });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).issues[0]!.path).toBe(path);
      const text = (err as Error).message;
      for (const secret of [token, 'plain-looking', 'x1234', 'profile-api-key-123']) expect(text).not.toContain(secret);
      expect(() => renderTrainingArgs(opts, { known, allowSecretsInArgs: true })).not.toThrow();
    }
  });

  it('validates the options, naming the field', () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ framework: 'PyTorch' }, 'modelMain'],
      [{ framework: 'PyTorch', modelMain: 'a.py', userCmd: ['x'] }, 'userCmd'],
      [{ framework: 'PyTorch', modelMain: 'a.py', numWorker: 0 }, 'numWorker'],
      [{ framework: 'PyTorch', modelMain: 'a.py', workerDeviceType: 'tpu' }, 'workerDeviceType'],
      [{ framework: 'PyTorch', modelMain: 'a.py', workerMemory: 'lots' }, 'workerMemory'],
      [{ framework: 'PyTorch', modelMain: 'a.py', condaEnvName: '--evil' }, 'condaEnvName'],
      [{ framework: 'PyTorch', modelMain: 'a.py', scriptArgs: ['--numWorker', '3'] }, 'scriptArgs[0]'],
      [{ framework: 'PyTorch', modelMain: '../a.py' }, 'modelMain'],
      [{ framework: 'PyTorch', modelMain: 'a.py', appName: 'a name' }, 'appName'],
      [{ framework: 'PyTorch', modelMain: 'a.py', nope: 1 }, 'nope'],
      [{ framework: 'PyTorch', modelMain: 'a.py', msdEnv: { 'NOT VALID': 'x' } }, 'msdEnv'],
    ];
    for (const [input, path] of bad) {
      let err: unknown;
      try {
        parseTrainingOptions(input as never);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).issues.map((i) => i.path).join(' ')).toContain(path);
    }
  });

  it('maps exec states to phases as dlicmd summarises them', () => {
    expect(['NEW', 'SUBMITTED', 'PENDING_CRD_SCHEDULER', 'RECOVERING'].map(execPhase)).toEqual(['pending', 'pending', 'pending', 'pending']);
    expect(['LAUNCHING', 'RUNNING'].map(execPhase)).toEqual(['running', 'running']);
    expect(['FINISHED', 'KILLED', 'ERROR'].map(execPhase)).toEqual(['ended', 'ended', 'ended']);
  });
});

describe('formBody', () => {
  it('is a multipart body busboy reads back part by part, of exactly contentLength bytes, replayable', async () => {
    const dir = fresh('form');
    const file = join(dir, 'job.modelDir.tar');
    const bytes = Buffer.from(Array.from({ length: 70000 }, (_, i) => i % 251));
    writeFileSync(file, bytes);
    const form = formBody([
      { name: 'file', filename: 'job.modelDir.tar', file, size: bytes.length, contentType: 'application/x-tar' },
      { name: 'data', value: '{"args":"--exec-start PyTorch"}', contentType: 'application/json' },
    ]);
    for (let round = 0; round < 2; round++) {
      const raw: Buffer[] = [];
      for await (const c of form.body()) raw.push(c as Buffer);
      const body = Buffer.concat(raw);
      expect(body.length).toBe(form.contentLength);
      const parts: Record<string, { filename?: string; bytes: Buffer }> = {};
      await new Promise<void>((resolve, reject) => {
        const bb = busboy({ headers: { 'content-type': form.contentType } });
        bb.on('file', (name, stream, info) => {
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => (parts[name] = { filename: info.filename, bytes: Buffer.concat(chunks) }));
        });
        bb.on('field', (name, value) => (parts[name] = { bytes: Buffer.from(value) }));
        bb.on('close', () => resolve());
        bb.on('error', reject);
        Readable.from([body]).pipe(bb);
      });
      expect(parts.file!.filename).toBe('job.modelDir.tar');
      expect(parts.file!.bytes.equals(bytes)).toBe(true);
      expect(parts.data!.bytes.toString()).toBe('{"args":"--exec-start PyTorch"}');
    }
  });
});

describe('desiredProfile (resource_configs → app profile)', () => {
  const base = defaultProfile('demo', Date.UTC(2022, 7, 10));

  it('applies every key, enable_gpus as a real boolean, n_replicas and n_min_kernels included', () => {
    const { profile, changes } = desiredProfile(base, { enable_gpus: 'False', n_cpus: 8, memory_allocation: 10000, n_replicas: 2, n_min_kernels: 2, task_execution_timeout: 120 });
    expect(profile.kernel.gpu).toBe('no');
    expect(profile.replica).toBe(2);
    expect(profile.policy.kernel_min).toBe(2);
    expect(profile.policy.kernel_max).toBe(3);
    expect(profile.policy.task_execution_timeout).toBe(120);
    expect(profile.policy.kernel_delay_release_time).toBe(60);
    expect(profile.resource_allocation.kernel.resources).toBe('ncpus=8,ncpus_limit=8,mem=10000,mem_limit=10000');
    expect(changes.map((c) => c.path).sort()).toEqual(['policy.kernel_max', 'policy.kernel_min', 'policy.task_execution_timeout', 'replica', 'resource_allocation.kernel.resources'].sort());
    // Fields the mapping does not own are untouched.
    expect(profile.kernel.envs).toEqual(base.kernel.envs);
    expect(profile.policy.schedule_interval).toBe(base.policy.schedule_interval);
    expect(desiredProfile(base, { enable_gpus: 'True' }).profile.kernel.gpu).toBe('exclusive');
    expect(desiredProfile(base, { enable_gpus: true, kernel_min: 0 }).profile.policy.kernel_min).toBe(0);
  });

  it('reports no change for a profile that already has the values (in any key order)', () => {
    const first = desiredProfile(base, { enable_gpus: false, n_cpus: 2, memory_allocation: 2048 });
    const applied = { ...base, ...JSON.parse(JSON.stringify(first.profile)), create_time: base.create_time, last_update_time: base.last_update_time };
    expect(desiredProfile(applied, { enable_gpus: false, n_cpus: 2, memory_allocation: 2048 }).changes).toEqual([]);
    const reordered = JSON.parse(JSON.stringify(applied));
    reordered.resource_allocation.kernel.resources = 'mem=2048,ncpus=2,mem_limit=2048,ncpus_limit=2';
    expect(desiredProfile(reordered, { enable_gpus: false, n_cpus: 2, memory_allocation: 2048 }).changes).toEqual([]);
  });

  it('names the resource_configs key of a value EDI would refuse', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ enable_gpus: 'maybe' }, /resource_configs.*enable_gpus/],
      [{ enable_gpus: true, kernel_min: 2, n_min_kernels: 1 }, /kernel_min/],
      [{ enable_gpus: true, kernel_delay_release_time: 0 }, /resource_configs\.kernel_delay_release_time/],
      [{ enable_gpus: true, n_cpus: '8' }, /n_cpus/],
      [{ enable_gpus: true, gpus: 1 }, /resource_configs: gpus: unknown key/],
    ];
    for (const [rc, path] of cases) {
      let err: unknown;
      try {
        desiredProfile(base, rc as never);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).message).toMatch(path);
    }
  });
});

describe('buildDeploymentPackage', () => {
  const template = join(__dirname, '..', '..', 'templates', 'edi-kernel');

  it('copies the dependency folder, writes model.json (fields kept from the template), keeps README.md', async () => {
    const pkg = await buildDeploymentPackage({ dependencyFolder: template, name: 'seg-demo', spaceId: 'space-1', modelAssetName: 'model.zip', customArgs: "VOLUME=Deep\\ Data MODE='a=b c'" });
    try {
      expect(pkg.dir.endsWith('/seg-demo')).toBe(true);
      expect(readdirSync(pkg.dir).sort()).toEqual(['README.md', 'kernel.py', 'model.json']);
      expect(pkg.readmeCreated).toBe(false);
      expect(readFileSync(join(pkg.dir, 'README.md'), 'utf8')).toBe(readFileSync(join(template, 'README.md'), 'utf8'));
      expect(readFileSync(join(pkg.dir, 'kernel.py'), 'utf8')).toBe(readFileSync(join(template, 'kernel.py'), 'utf8')); // no source injection
      const json = JSON.parse(readFileSync(join(pkg.dir, 'model.json'), 'utf8'));
      expect(json).toMatchObject({ name: 'seg-demo', kernel_path: 'kernel.py', readme: 'README.md', tag: 'demo', runtime: 'dlipy3', framework: 'PyTorch', weight_path: './', schema_version: '1' });
      expect(json.mk_environments).toEqual([
        { name: 'WML_SPACE_ID', value: 'space-1' },
        { name: 'WML_SPACE_MODEL', value: 'model.zip' },
        { name: 'VOLUME', value: 'Deep Data' },
        { name: 'MODE', value: 'a=b c' },
      ]);
      expect(json.attributes).toEqual([{ key: CONTENT_ATTRIBUTE, value: pkg.contentHash }]);
      expect(pkg.descriptor).toEqual(json);
    } finally {
      await pkg.cleanup();
    }
    expect(existsSync(pkg.dir)).toBe(false);
  });

  it('creates a README stub when there is none; the same inputs give the same content hash, other inputs another', async () => {
    const dep = fresh('dep');
    writeTree(dep, { 'my_kernel.py': 'print(1)\n', 'lib/helper.py': 'X = 1\n' });
    const a = await buildDeploymentPackage({ dependencyFolder: dep, name: 'stub-demo', kernelFilename: 'my_kernel.py', mkEnvironments: { A: '1' } });
    const b = await buildDeploymentPackage({ dependencyFolder: dep, name: 'stub-demo', kernelFilename: 'my_kernel.py', mkEnvironments: { A: '1' } });
    const c = await buildDeploymentPackage({ dependencyFolder: dep, name: 'stub-demo', kernelFilename: 'my_kernel.py', mkEnvironments: { A: '2' } });
    writeFileSync(join(dep, 'lib/helper.py'), 'X = 2\n');
    const d = await buildDeploymentPackage({ dependencyFolder: dep, name: 'stub-demo', kernelFilename: 'my_kernel.py', mkEnvironments: { A: '1' } });
    try {
      expect(a.readmeCreated).toBe(true);
      const readme = readFileSync(join(a.dir, 'README.md'), 'utf8');
      expect(readme).toContain('# stub-demo');
      expect(readme).toContain('/dlim/v1/inference/stub-demo');
      expect(a.descriptor).toMatchObject({ kernel_path: 'my_kernel.py', tag: 'runbook', runtime: 'dlipy3' });
      expect(b.contentHash).toBe(a.contentHash);
      expect(c.contentHash).not.toBe(a.contentHash);
      expect(d.contentHash).not.toBe(a.contentHash);
    } finally {
      for (const p of [a, b, c, d]) await p.cleanup();
    }
  });

  it('refuses a missing kernel, a bad name, bad custom args and credentials, naming them without their values', async () => {
    const dep = fresh('dep-bad');
    writeTree(dep, { 'kernel.py': 'x', 'README.md': 'r' });
    await expectValidation(buildDeploymentPackage({ dependencyFolder: dep, name: 'demo', kernelFilename: 'kernel-update.py' }), 'kernelFilename', /'kernel-update.py' is missing from .* \(it holds: README.md, kernel.py\)/);
    await expectValidation(buildDeploymentPackage({ dependencyFolder: join(dep, 'nope'), name: 'demo' }), 'dependencyFolder', /is not a folder/);
    await expectValidation(buildDeploymentPackage({ dependencyFolder: dep, name: 'Demo_Model' }), 'name', /lowercase/);
    await expectValidation(buildDeploymentPackage({ dependencyFolder: dep, name: 'demo', customArgs: 'JUSTAWORD' }), 'customArgs[0]', /NAME=VALUE/);
    await expectValidation(buildDeploymentPackage({ dependencyFolder: dep, name: 'demo', customArgs: "A='unterminated" }), 'customArgs', /unterminated/);
    for (const args of ['CPD_API_KEY=abcd-1234-secret', { VOLUME: 'x', CPD_USERNAME: 'admin', USER_ACCESS_TOKEN: 'abcd-1234-secret' }]) {
      const err = await expectValidation(buildDeploymentPackage({ dependencyFolder: dep, name: 'demo', customArgs: args }), /mkEnvironments\.(CPD_API_KEY|USER_ACCESS_TOKEN)/, /GET \/dlim\/v1\/model shows them/);
      expect(JSON.stringify({ m: err.message, i: err.issues })).not.toContain('abcd-1234-secret');
    }
    const allowed = await buildDeploymentPackage({ dependencyFolder: dep, name: 'demo', customArgs: 'CPD_API_KEY=abcd-1234-secret', allowSecretsInEnvironments: true });
    expect(allowed.descriptor.mk_environments).toEqual([{ name: 'CPD_API_KEY', value: 'abcd-1234-secret' }]);
    await allowed.cleanup();
    writeFileSync(join(dep, 'model.json'), '{ not json');
    await expectValidation(buildDeploymentPackage({ dependencyFolder: dep, name: 'demo' }), 'dependencyFolder', /model.json is not valid JSON/);
  });

  it('parses CUSTOM_ARG text as shell words split at the first =', () => {
    expect(parseCustomArgs(`A=1 B="two words" C=x=y D=''`)).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: 'two words' },
      { name: 'C', value: 'x=y' },
      { name: 'D', value: '' },
    ]);
  });
});
