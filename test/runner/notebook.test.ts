import { describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addErrorMarkers, removeErrorMarkers } from '../../src/runner/banner';
import { appendLedger, readLedger, type LedgerEntry } from '../../src/runner/ledger';
import { LineBuffer } from '../../src/runner/line-buffer';
import { NotebookInvalidError, parseNotebook, readNotebook, serializeNotebook, type Output } from '../../src/runner/notebook';
import { errorFromStderr, hasEscapedError, OutputCollector } from '../../src/runner/outputs';
import type { JupyterMessage } from '../../src/runner/protocol';
import { decodeMessage, encodeMessage, newMessage, ProtocolError } from '../../src/runner/protocol';
import { validateNotebook } from './helpers';

function msg(type: string, content: Record<string, unknown>): JupyterMessage {
  return newMessage('s', type, content);
}

const stderr = (text: string): Output => ({ output_type: 'stream', name: 'stderr', text });

describe('notebook files', () => {
  it('rejects what is not an nbformat 4 notebook, naming the file and the problem', async () => {
    expect(() => parseNotebook('{', 'a.ipynb')).toThrow(/^a\.ipynb: not a notebook \(invalid JSON/);
    expect(() => parseNotebook(JSON.stringify({ nbformat: 3, nbformat_minor: 0, metadata: {}, cells: [] }), 'b.ipynb'))
      .toThrow('b.ipynb: not a valid nbformat 4 notebook: nbformat: only nbformat 4 notebooks are supported');
    expect(() => parseNotebook(JSON.stringify({ nbformat: 4, nbformat_minor: 4, metadata: {} }), 'c.ipynb')).toThrow(/c\.ipynb: .*cells/);
    expect(() => parseNotebook(JSON.stringify({ nbformat: 4, nbformat_minor: 4, metadata: {}, cells: [{ cell_type: 'heading', source: '' }] }), 'd.ipynb'))
      .toThrow(/d\.ipynb: .*cells\.0\.cell_type/);
    await expect(readNotebook('/nonexistent/x.ipynb')).rejects.toThrow(new NotebookInvalidError('/nonexistent/x.ipynb: cannot read the notebook (no such file)'));
  });

  it('upgrades older 4.x notebooks to 4.5 with stable, unique cell ids', () => {
    const old = JSON.stringify({
      nbformat: 4, nbformat_minor: 2, metadata: {},
      cells: [
        { cell_type: 'code', metadata: {}, source: ['a = 1\n', 'b'], outputs: [], execution_count: 3 },
        { cell_type: 'markdown', metadata: {}, source: 'same' },
        { cell_type: 'markdown', metadata: {}, source: 'same', id: 'bad id!' },
        { cell_type: 'raw', metadata: {}, source: 'x', id: 'keep-me' },
        { cell_type: 'raw', metadata: {}, source: 'y', id: 'keep-me' },
      ],
    });
    const a = parseNotebook(old, 'x');
    const b = parseNotebook(old, 'x');
    expect(a.nbformat_minor).toBe(5);
    const ids = a.cells.map((c) => c.id);
    expect(ids).toEqual(b.cells.map((c) => c.id));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids[3]).toBe('keep-me');
    for (const id of ids) expect(id).toMatch(/^[a-zA-Z0-9-_]{1,64}$/);
    expect(validateNotebook(JSON.parse(serializeNotebook(a)))).toEqual([]);
  });

  it('serialises with sorted keys, one-space indent and a trailing newline', () => {
    const nb = parseNotebook(JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: { z: 1, a: 2 }, cells: [] }), 'x');
    const text = serializeNotebook(nb);
    expect(text.endsWith('}\n')).toBe(true);
    expect(text.indexOf('"a"')).toBeLessThan(text.indexOf('"z"'));
    expect(text).toContain('\n "cells": []');
  });
});

describe('iopub messages to outputs', () => {
  it('merges consecutive chunks of one stream and keeps streams apart', () => {
    const c = new OutputCollector();
    const outs: Output[] = [];
    c.apply(outs, msg('stream', { name: 'stdout', text: 'a' }));
    c.apply(outs, msg('stream', { name: 'stdout', text: 'b\n' }));
    c.apply(outs, msg('stream', { name: 'stderr', text: 'e\n' }));
    c.apply(outs, msg('stream', { name: 'stdout', text: 'c\n' }));
    expect(outs).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'ab\n' },
      { output_type: 'stream', name: 'stderr', text: 'e\n' },
      { output_type: 'stream', name: 'stdout', text: 'c\n' },
    ]);
  });

  it('updates a display by its id, also one shown by an earlier cell', () => {
    const c = new OutputCollector();
    const first: Output[] = [];
    const second: Output[] = [];
    c.apply(first, msg('display_data', { data: { 'text/plain': 'v1' }, metadata: {}, transient: { display_id: 'd' } }));
    expect(c.apply(second, msg('update_display_data', { data: { 'text/plain': 'v2' }, metadata: { m: 1 }, transient: { display_id: 'd' } }))).toBe(true);
    expect(first).toEqual([{ output_type: 'display_data', data: { 'text/plain': 'v2' }, metadata: { m: 1 } }]);
    expect(second).toEqual([]);
    expect(c.apply(second, msg('update_display_data', { data: {}, transient: { display_id: 'unknown' } }))).toBe(false);
  });

  it('clears outputs now, or just before the next output with wait', () => {
    const c = new OutputCollector();
    const outs: Output[] = [];
    c.apply(outs, msg('stream', { name: 'stdout', text: 'old\n' }));
    c.apply(outs, msg('clear_output', { wait: true }));
    expect(outs).toHaveLength(1);
    c.apply(outs, msg('stream', { name: 'stdout', text: 'new\n' }));
    expect(outs).toEqual([{ output_type: 'stream', name: 'stdout', text: 'new\n' }]);
    c.apply(outs, msg('clear_output', { wait: false }));
    expect(outs).toEqual([]);
  });

  it('keeps mime bundles valid: JSON types as objects, other types as text', () => {
    const c = new OutputCollector();
    const outs: Output[] = [];
    c.apply(outs, msg('display_data', { data: { 'application/vnd.vegalite.v5+json': { mark: 'bar' }, 'text/plain': { not: 'text' } } }));
    expect(outs[0]).toEqual({
      output_type: 'display_data',
      data: { 'application/vnd.vegalite.v5+json': { mark: 'bar' }, 'text/plain': '{"not":"text"}' },
      metadata: {},
    });
  });
});

describe('errors from stderr (tslab sends no error message)', () => {
  it('builds a runtime error with name, message and stack, moving it out of the stream', () => {
    const outs: Output[] = [
      { output_type: 'stream', name: 'stdout', text: 'before\n' },
      stderr('a warning\nevalmachine.<anonymous>:2\nthrow new Error("boom");\n^\n\nError: boom\n    at evalmachine.<anonymous>:2:7\n    at f (x.js:1:1)\n'),
    ];
    const err = errorFromStderr(outs, { ename: 'CellError', evalue: '' });
    expect(err).toEqual({
      output_type: 'error', ename: 'Error', evalue: 'boom',
      traceback: ['evalmachine.<anonymous>:2', 'throw new Error("boom");', '^', '', 'Error: boom', '    at evalmachine.<anonymous>:2:7', '    at f (x.js:1:1)'],
    });
    expect(outs).toEqual([{ output_type: 'stream', name: 'stdout', text: 'before\n' }, stderr('a warning\n')]);
  });

  it('reads error classes with codes and awaited rejections', () => {
    const outs = [stderr('TypeError [ERR_INVALID_ARG_TYPE]: The "path" argument must be of type string\n    at x\n')];
    expect(errorFromStderr(outs, { ename: 'X', evalue: '' })).toMatchObject({ ename: 'TypeError', evalue: 'The "path" argument must be of type string' });
    expect(outs).toEqual([]);
  });

  it('reports TypeScript diagnostics as a CompileError with every diagnostic', () => {
    const outs = [stderr("1:5 - Type 'string' is not assignable to type 'number'.\n2:1 - Cannot find name 'nope'.\n")];
    expect(errorFromStderr(outs, { ename: 'X', evalue: '' })).toEqual({
      output_type: 'error', ename: 'CompileError',
      evalue: "1:5 - Type 'string' is not assignable to type 'number'.\n2:1 - Cannot find name 'nope'.",
      traceback: ["1:5 - Type 'string' is not assignable to type 'number'.", "2:1 - Cannot find name 'nope'."],
    });
  });

  it('recognises unhandled rejections and uncaught exceptions reported by tslab', () => {
    const outs: Output[] = [stderr('UnhandledPromiseRejection: Error: rej\n    at evalmachine.<anonymous>:3:16\n'), { output_type: 'stream', name: 'stdout', text: 'after\n' }];
    expect(hasEscapedError(outs)).toBe(true);
    expect(errorFromStderr(outs, { ename: 'X', evalue: '' }, true)).toMatchObject({ ename: 'UnhandledPromiseRejection', evalue: 'Error: rej' });
    expect(hasEscapedError([stderr('UncaughtException: Error: late\n')])).toBe(true);
    expect(hasEscapedError([{ output_type: 'stream', name: 'stdout', text: 'UnhandledPromiseRejection: looks alike\n' }])).toBe(false);
  });

  it('falls back to the first stderr line when nothing looks like an error', () => {
    const outs = [stderr('something odd\nmore\n')];
    expect(errorFromStderr(outs, { ename: 'CellError', evalue: 'failed' })).toEqual({ output_type: 'error', ename: 'CellError', evalue: 'something odd', traceback: ['something odd', 'more'] });
    expect(errorFromStderr([], { ename: 'CellError', evalue: 'failed' })).toMatchObject({ ename: 'CellError', evalue: 'failed' });
  });
});

describe('error banner', () => {
  const base = () => parseNotebook(JSON.stringify({
    nbformat: 4, nbformat_minor: 5, metadata: {},
    cells: ['a', 'b', 'c'].map((id) => ({ id, cell_type: 'code', metadata: {}, source: id, outputs: [], execution_count: 1 })),
  }), 'x');

  it('puts a red banner on top linking to an anchor right before the failing cell', () => {
    const nb = base();
    addErrorMarkers(nb, { summary: 'cell 2: Error: <boom>', cellIndex: 1, executionCount: 2 });
    expect(nb.cells.map((c) => c.id)).toEqual(['runbook-error-banner', 'a', 'runbook-error-cell', 'b', 'c']);
    const banner = String(nb.cells[0].source);
    expect(banner).toContain('<span style="color:red; font-size:1.5em">An exception was raised in <a href="#runbook-error-cell">cell 4 (In [2])</a>:</span>');
    expect(banner).toContain('Error: &lt;boom&gt;');
    expect(nb.cells[2].source).toBe('<span id="runbook-error-cell"></span>');
    expect(validateNotebook(JSON.parse(serializeNotebook(nb)))).toEqual([]);
  });

  it('replaces the markers of an earlier run', () => {
    const nb = base();
    addErrorMarkers(nb, { summary: 'first', cellIndex: 2 });
    addErrorMarkers(nb, { summary: 'second', cellIndex: 1 + 1 });
    expect(nb.cells.filter((c) => c.metadata.tags?.includes('runbook-error-banner'))).toHaveLength(1);
    expect(nb.cells.filter((c) => c.metadata.tags?.includes('runbook-error-cell'))).toHaveLength(1);
    removeErrorMarkers(nb);
    expect(nb.cells.map((c) => c.id)).toEqual(['a', 'b', 'c']);
  });

  it('has no link when no cell failed (e.g. the kernel did not start)', () => {
    const nb = base();
    addErrorMarkers(nb, { summary: 'the kernel could not be started' });
    expect(nb.cells.map((c) => c.id)).toEqual(['runbook-error-banner', 'a', 'b', 'c']);
    expect(String(nb.cells[0].source)).not.toContain('href');
  });
});

describe('run ledger', () => {
  const entry = (id: string): LedgerEntry => ({
    run_id: id, notebook: '/n.ipynb', input_sha256: null, parameters: { n: 1 }, start: '2026-01-01T00:00:00.000Z',
    end: '2026-01-01T00:00:01.000Z', duration_s: 1, status: 'ok', exit_code: 0, output: null,
  });

  it('appends one line per run and reads the last N back, skipping damaged lines', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'ledger-')), 'runs', 'ledger.jsonl');
    appendLedger(path, entry('a'));
    appendFileSync(path, '{"run_id": "trunc');
    appendFileSync(path, '\nnot json\n');
    appendLedger(path, entry('b'));
    appendLedger(path, entry('c'));
    expect(readLedger(path).map((e) => e.run_id)).toEqual(['a', 'b', 'c']);
    expect(readLedger(path, 2).map((e) => e.run_id)).toEqual(['b', 'c']);
    expect(readLedger(join(path, '..', 'missing.jsonl'))).toEqual([]);
  });

  it('keeps lines whole when several processes append at once', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'ledger-')), 'ledger.jsonl');
    const script = `
      const { appendLedger } = require(${JSON.stringify(require.resolve('../../dist/src/runner/ledger.js'))});
      const big = 'x'.repeat(3000);
      for (let i = 0; i < 200; i++) appendLedger(${JSON.stringify(path)}, { run_id: process.argv[1] + '-' + i, notebook: big, input_sha256: null,
        parameters: {}, start: 's', end: 'e', duration_s: 0, status: 'ok', exit_code: 0, output: null });`;
    const children = [0, 1, 2].map((k) => spawn(process.execPath, ['-e', script, `p${k}`]));
    return Promise.all(children.map((c: ChildProcess) => new Promise((r) => c.on('exit', r)))).then((codes) => {
      expect(codes).toEqual([0, 0, 0]);
      const entries = readLedger(path);
      expect(entries).toHaveLength(600);
      expect(new Set(entries.map((e) => e.run_id)).size).toBe(600);
    });
  });
});

describe('wire format', () => {
  it('signs messages and refuses ones with a wrong signature', () => {
    const m = newMessage('session', 'execute_request', { code: '1' });
    const frames = encodeMessage('key', m).map((f) => Buffer.from(f));
    expect(decodeMessage('key', [Buffer.from('routing-id'), ...frames])).toEqual(m);
    expect(() => decodeMessage('other-key', frames)).toThrow(ProtocolError);
    expect(() => decodeMessage('key', frames.slice(2))).toThrow('malformed Jupyter message');
  });
});

describe('line buffer', () => {
  it('hands out whole lines only, so split secrets are redacted', () => {
    const b = new LineBuffer();
    expect(b.push('sec')).toBe('');
    expect(b.push('ret\nnext')).toBe('secret\n');
    expect(b.flush()).toBe('next');
    expect(b.flush()).toBe('');
  });
});
