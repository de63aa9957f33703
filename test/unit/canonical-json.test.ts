import { describe, expect, it } from 'vitest';
import { canonicalJSON } from '../../src/api/canonical-json';
import { requestHash } from '../../src/api/operation';

describe('canonicalJSON', () => {
  it('sorts keys at every depth and keeps array order', () => {
    expect(canonicalJSON({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  });
  it('writes what JSON.stringify writes for JSON data, undefined members left out', () => {
    const v = { s: 'é\u2028"\\<', n: -1.5e-7, t: true, u: undefined, arr: [undefined, 'x'] };
    expect(JSON.parse(canonicalJSON(v))).toEqual(JSON.parse(JSON.stringify(v)));
    expect(canonicalJSON(v)).toBe('{"arr":[null,"x"],"n":-1.5e-7,"s":"é\u2028\\"\\\\<","t":true}');
  });
  it('orders keys by UTF-16 code units (upper case before lower, as Array.prototype.sort)', () => {
    expect(canonicalJSON({ b: 1, B: 2, _: 3, é: 4 })).toBe('{"B":2,"_":3,"b":1,"é":4}');
  });
  it('throws on a circular reference', () => {
    const o: Record<string, unknown> = {};
    o.self = o;
    expect(() => canonicalJSON(o)).toThrow(TypeError);
  });
  it('keeps the request hashes written by earlier releases (records in clusters hold them)', () => {
    // Hashes computed with the hand-written sorter this module replaced.
    expect(requestHash({ specName: 'a100', memory: '17179869184', gpu: 1, replicas: 2 })).toBe(requestHash({ replicas: 2, gpu: 1, memory: '17179869184', specName: 'a100' }));
    expect(requestHash({ specName: 'a100', memory: '17179869184', gpu: 1, replicas: 2 })).toBe(HASH_BEFORE);
  });
});

const HASH_BEFORE = 'ebc86e1f7e7a176e';
