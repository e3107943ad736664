import { describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atomicWriteFile, atomicWriteFileSync } from '../../src/lib/util/atomic-write';

describe('atomic writes', () => {
  it('replaces the file and leaves no temporary sibling behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atomic-'));
    const file = join(dir, 'sub', 'out.json');
    await atomicWriteFile(file, 'first');
    atomicWriteFileSync(file, 'second');
    expect(readFileSync(file, 'utf8')).toBe('second');
    expect(readdirSync(join(dir, 'sub'))).toEqual(['out.json']);
  });

  it('keeps the old content when the rename fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atomic-'));
    const file = join(dir, 'target');
    writeFileSync(join(dir, 'x'), 'old');
    // A directory in the way makes rename fail: the previous state must survive untouched.
    const blocked = join(dir, 'blocked');
    mkdirSync(join(blocked, 'inner'), { recursive: true });
    await expect(atomicWriteFile(blocked, 'new')).rejects.toThrow();
    expect(readdirSync(dir).sort()).toEqual(['blocked', 'x']);
    await atomicWriteFile(file, 'ok');
    expect(readFileSync(file, 'utf8')).toBe('ok');
  });
});
