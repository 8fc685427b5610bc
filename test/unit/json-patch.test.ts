// pipeline/json-patch.ts over the documents of RFC 6902 appendix A: the patch `diff` makes from each
// example's document to its result turns the one into the other, and the RFC's own patches apply.
import { describe, expect, it } from 'vitest';
import { applyPatch, diff, type PatchOperation } from '../../pipeline/json-patch.ts';

type Json = any;

/** RFC 6902 appendix A: document, patch and result of each example that succeeds. */
const RFC_EXAMPLES: Array<{ name: string; doc: Json; patch: PatchOperation[]; result: Json }> = [
  { name: 'A.1 adding an object member', doc: { foo: 'bar' }, patch: [{ op: 'add', path: '/baz', value: 'qux' }], result: { baz: 'qux', foo: 'bar' } },
  { name: 'A.2 adding an array element', doc: { foo: ['bar', 'baz'] }, patch: [{ op: 'add', path: '/foo/1', value: 'qux' }], result: { foo: ['bar', 'qux', 'baz'] } },
  { name: 'A.3 removing an object member', doc: { baz: 'qux', foo: 'bar' }, patch: [{ op: 'remove', path: '/baz' }], result: { foo: 'bar' } },
  { name: 'A.4 removing an array element', doc: { foo: ['bar', 'qux', 'baz'] }, patch: [{ op: 'remove', path: '/foo/1' }], result: { foo: ['bar', 'baz'] } },
  { name: 'A.5 replacing a value', doc: { baz: 'qux', foo: 'bar' }, patch: [{ op: 'replace', path: '/baz', value: 'boo' }], result: { baz: 'boo', foo: 'bar' } },
  {
    name: 'A.6 moving a value',
    doc: { foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } },
    patch: [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }],
    result: { foo: { bar: 'baz' }, qux: { corge: 'grault', thud: 'fred' } },
  },
  { name: 'A.7 moving an array element', doc: { foo: ['all', 'grass', 'cows', 'eat'] }, patch: [{ op: 'move', from: '/foo/1', path: '/foo/3' }], result: { foo: ['all', 'cows', 'eat', 'grass'] } },
  { name: 'A.8 testing a value: success', doc: { baz: 'qux', foo: ['a', 2, 'c'] }, patch: [{ op: 'test', path: '/baz', value: 'qux' }, { op: 'test', path: '/foo/1', value: 2 }], result: { baz: 'qux', foo: ['a', 2, 'c'] } },
  { name: 'A.10 adding a nested member object', doc: { foo: 'bar' }, patch: [{ op: 'add', path: '/child', value: { grandchild: {} } }], result: { foo: 'bar', child: { grandchild: {} } } },
  { name: 'A.14 ~ escape ordering', doc: { '/': 9, '~1': 10 }, patch: [{ op: 'test', path: '/~01', value: 10 }], result: { '/': 9, '~1': 10 } },
  { name: 'A.16 adding an array value', doc: { foo: ['bar'] }, patch: [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }], result: { foo: ['bar', ['abc', 'def']] } },
];

describe('diff and applyPatch (fast-json-patch) on RFC 6902 appendix A', () => {
  it.each(RFC_EXAMPLES)('$name: the RFC patch applies, and diff(document, result) turns the one into the other', ({ doc, patch, result }) => {
    expect(applyPatch(doc, patch)).toEqual(result);
    const made = diff(doc, result);
    expect(applyPatch(doc, made)).toEqual(result);
    // Nothing to do when nothing changed; and the inputs are left as they were.
    if (JSON.stringify(doc) === JSON.stringify(result)) expect(made).toEqual([]);
  });

  it('escapes member names with / and ~ in paths (RFC 6901)', () => {
    const made = diff({ '/': 9, '~1': 10 }, { '/': 8, '~1': 11, 'a/b~c': 1 });
    expect(made).toEqual(expect.arrayContaining([{ op: 'replace', path: '/~1', value: 8 }, { op: 'replace', path: '/~01', value: 11 }, { op: 'add', path: '/a~1b~0c', value: 1 }]));
  });

  it('leaves both documents untouched, and a patch that does not apply throws', () => {
    const from = { a: [1, 2, 3], b: { c: 1 } };
    const to = { a: [1, 3], b: { d: 2 } };
    const frozen = JSON.stringify([from, to]);
    const made = diff(from, to);
    expect(applyPatch(from, made)).toEqual(to);
    expect(JSON.stringify([from, to])).toBe(frozen);
    expect(() => applyPatch({ foo: 'bar' }, [{ op: 'test', path: '/foo', value: 'baz' }])).toThrow();
    expect(() => applyPatch({ foo: 'bar' }, [{ op: 'remove', path: '/nope' }])).toThrow();
  });
});
