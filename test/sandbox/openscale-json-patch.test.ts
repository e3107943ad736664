import { describe, expect, it } from '@jest/globals';
import { JsonPatch } from '../../src/lib/contracts/openscale';
import { applyJsonPatch, JsonPatchError } from '../../src/sandbox/services/openscale/json-patch';

const apply = (doc: unknown, patch: unknown) => applyJsonPatch(doc, JsonPatch.parse(patch));

describe('JSON Patch (RFC 6902) used by the OpenScale PATCH routes', () => {
  it('adds object members, array elements (by index and "-") and replaces the root', () => {
    expect(apply({ foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux' }])).toEqual({ foo: 'bar', baz: 'qux' });
    expect(apply({ foo: ['bar', 'baz'] }, [{ op: 'add', path: '/foo/1', value: 'qux' }])).toEqual({ foo: ['bar', 'qux', 'baz'] });
    expect(apply({ foo: ['bar'] }, [{ op: 'add', path: '/foo/-', value: ['abc'] }])).toEqual({ foo: ['bar', ['abc']] });
    expect(apply({ foo: 1 }, [{ op: 'add', path: '/foo', value: 2 }])).toEqual({ foo: 2 }); // add replaces a member
    expect(apply({ a: 1 }, [{ op: 'add', path: '', value: { b: 2 } }])).toEqual({ b: 2 });
    expect(apply({}, [{ op: 'add', path: '/', value: 'empty key' }])).toEqual({ '': 'empty key' });
  });

  it('removes, replaces, moves and copies', () => {
    expect(apply({ baz: 'qux', foo: 'bar' }, [{ op: 'remove', path: '/baz' }])).toEqual({ foo: 'bar' });
    expect(apply({ foo: ['bar', 'qux', 'baz'] }, [{ op: 'remove', path: '/foo/1' }])).toEqual({ foo: ['bar', 'baz'] });
    expect(apply({ baz: 'qux', foo: 'bar' }, [{ op: 'replace', path: '/baz', value: 'boo' }])).toEqual({ baz: 'boo', foo: 'bar' });
    expect(apply({ a: [1, 2] }, [{ op: 'replace', path: '/a/0', value: 9 }])).toEqual({ a: [9, 2] });
    expect(apply({ foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } }, [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }])).toEqual({
      foo: { bar: 'baz' },
      qux: { corge: 'grault', thud: 'fred' },
    });
    expect(apply({ foo: ['all', 'grass', 'cows', 'eat'] }, [{ op: 'move', from: '/foo/1', path: '/foo/3' }])).toEqual({ foo: ['all', 'cows', 'eat', 'grass'] });
    const copied = apply({ a: { b: [1] } }, [{ op: 'copy', from: '/a', path: '/c' }]) as any;
    expect(copied).toEqual({ a: { b: [1] }, c: { b: [1] } });
    copied.c.b.push(2);
    expect(copied.a.b).toEqual([1]); // a deep copy
  });

  it('decodes ~0 and ~1 in pointers', () => {
    expect(apply({ 'a/b': 1, 'm~n': 2 }, [{ op: 'replace', path: '/a~1b', value: 3 }, { op: 'remove', path: '/m~0n' }])).toEqual({ 'a/b': 3 });
    expect(() => apply({ a: 1 }, [{ op: 'remove', path: '/a~2' }])).toThrow(/invalid escape/);
  });

  it('tests values deeply and fails the patch when a test fails', () => {
    expect(apply({ baz: 'qux', foo: ['a', 2, 'c'] }, [{ op: 'test', path: '/foo', value: ['a', 2, 'c'] }])).toEqual({ baz: 'qux', foo: ['a', 2, 'c'] });
    expect(() => apply({ baz: 'qux' }, [{ op: 'test', path: '/baz', value: 'bar' }])).toThrow(/patch\[0\] \(test \/baz\): test failed/);
    expect(() => apply({ n: 1 }, [{ op: 'test', path: '/n', value: '1' }])).toThrow(JsonPatchError);
  });

  it('rejects missing targets, bad indexes, moving into a child and touching __proto__', () => {
    expect(() => apply({ foo: 'bar' }, [{ op: 'add', path: '/baz/bat', value: 'qux' }])).toThrow(/patch\[0\] \(add \/baz\/bat\): 'baz' does not exist/);
    expect(() => apply({ a: 1 }, [{ op: 'replace', path: '/b', value: 2 }])).toThrow(/'b' does not exist/);
    expect(() => apply({ a: 1 }, [{ op: 'remove', path: '/b' }])).toThrow(/'b' does not exist/);
    expect(() => apply({ a: [1, 2] }, [{ op: 'add', path: '/a/3', value: 0 }])).toThrow(/out of bounds/);
    expect(() => apply({ a: [1, 2] }, [{ op: 'remove', path: '/a/2' }])).toThrow(/out of bounds/);
    expect(() => apply({ a: [1, 2] }, [{ op: 'add', path: '/a/01', value: 0 }])).toThrow(/not an array index/);
    expect(() => apply({ a: { b: {} } }, [{ op: 'move', from: '/a', path: '/a/b/c' }])).toThrow(/into itself/);
    expect(() => apply({ a: 1 }, [{ op: 'remove', path: '' }])).toThrow(/whole document/);
    expect(() => apply({ a: 1 }, [{ op: 'add', path: 'a', value: 1 }])).toThrow(/not a JSON pointer/);
    expect(() => apply({}, [{ op: 'add', path: '/__proto__', value: { polluted: true } }])).toThrow(/__proto__/);
    expect(({} as any).polluted).toBeUndefined();
  });

  it('leaves the input untouched and applies nothing when any operation fails', () => {
    const doc = { a: 1, list: [1] };
    expect(() => apply(doc, [{ op: 'replace', path: '/a', value: 2 }, { op: 'add', path: '/list/-', value: 2 }, { op: 'remove', path: '/missing' }])).toThrow(/patch\[2\]/);
    expect(doc).toEqual({ a: 1, list: [1] });
    const out = apply(doc, [{ op: 'replace', path: '/a', value: 2 }]);
    expect(out).toEqual({ a: 2, list: [1] });
    expect(doc.a).toBe(1);
  });

  it('requires value for add/replace/test and from for move/copy in the wire schema', () => {
    expect(JsonPatch.safeParse([{ op: 'add', path: '/a' }]).success).toBe(false);
    expect(JsonPatch.safeParse([{ op: 'add', path: '/a', value: null }]).success).toBe(true);
    expect(JsonPatch.safeParse([{ op: 'copy', path: '/a' }]).success).toBe(false);
    expect(JsonPatch.safeParse([{ op: 'merge', path: '/a', value: 1 }]).success).toBe(false);
  });
});
