import { describe, expect, it } from 'vitest';
import { accessorDeploymentName, accessorName, childName, unitDeploymentName, isDNS1035Label, isDNS1123Label, prepareJobName, resourceNameProblem, sha256Hex, stockBatchName, stockUnitName, unitChildName } from '../../src/api/naming';
import { prepareDigest } from '../../src/api/digest';
import { compareQuantities, parseQuantity } from '../../src/api/quantity';

describe('child names (contract "Names")', () => {
  it('uses prefix + name when valid', () => {
    expect(accessorName('model-cache')).toBe('storage-accessor-model-cache');
    expect(unitChildName('demo-instance')).toBe('unit-demo-instance');
    expect(prepareJobName('model-cache', '336f9c3a29de')).toBe('storage-prepare-model-cache-336f9c3a29de');
  });

  it('shortens deterministically: dots to -, cut to fit, - and 8 hex of sha256(name)', () => {
    const name = 'models.v1';
    const hash = sha256Hex(name).slice(0, 8);
    expect(accessorName(name)).toBe(`storage-accessor-models-v1-${hash}`);
    expect(isDNS1035Label(accessorName(name))).toBe(true);
    expect(accessorName(name)).toBe(accessorName(name));
  });

  it('names Deployments per their own rule: dots are valid there, only Services are shortened', () => {
    expect(accessorDeploymentName('models.v1')).toBe('storage-accessor-models.v1');
    expect(unitDeploymentName('a.b.c')).toBe('unit-a.b.c');
    expect(unitChildName('a.b.c')).toMatch(/^unit-a-b-c-[0-9a-f]{8}$/);
    expect(unitDeploymentName('demo')).toBe(unitChildName('demo'));
  });

  it('keeps every child name within 63 characters for any valid storage name', () => {
    const names = ['a', 'a'.repeat(63), 'x.y.z', `${'a'.repeat(30)}.${'b'.repeat(32)}`, '0abc', 'a-'.repeat(31) + 'a'];
    for (const n of names) {
      expect(resourceNameProblem(n)).toBeUndefined();
      const acc = accessorName(n);
      expect(acc.length).toBeLessThanOrEqual(63);
      expect(isDNS1035Label(acc)).toBe(true);
      const job = prepareJobName(n, 'abcdef012345');
      expect(job.length).toBeLessThanOrEqual(63);
      expect(isDNS1123Label(job)).toBe(true);
      expect(job.endsWith('-abcdef012345')).toBe(true);
    }
  });

  it('distinguishes names that shorten to the same prefix', () => {
    const a = `${'a'.repeat(55)}x`;
    const b = `${'a'.repeat(55)}y`;
    expect(prepareJobName(a, 'abcdef012345')).not.toBe(prepareJobName(b, 'abcdef012345'));
    expect(childName('storage-accessor-', a)).not.toBe(childName('storage-accessor-', b));
  });

  it('rejects invalid resource names with a reason', () => {
    expect(resourceNameProblem('Not_A_Name')).toMatch(/DNS-1123/);
    expect(resourceNameProblem('a'.repeat(64))).toMatch(/at most 63/);
    expect(resourceNameProblem('')).toMatch(/empty/);
    expect(resourceNameProblem('-a')).toMatch(/DNS-1123/);
  });

  it('names stock batches and units as the contract does', () => {
    const batch = stockBatchName('g1.1', 'stock-g1-demo-001');
    expect(batch).toBe(`stock-g1-1-${sha256Hex('stock-g1-demo-001').slice(0, 10)}`);
    expect(stockUnitName(batch, 1)).toBe(`${batch}-001`);
    expect(stockUnitName(batch, 12)).toBe(`${batch}-012`);
    expect(stockBatchName('a_b.c', 'x')).toMatch(/^stock-a-b-c-[0-9a-f]{10}$/);
  });
});

describe('prepare digest (the original platform\'s, vectors computed with Go encoding/json)', () => {
  it('matches Go for an image prepare', () => {
    expect(
      prepareDigest({ fromImage: 'busybox:1.36', command: ['sh', '-c'], args: ['mkdir -p /workspace/model && echo seeded > /workspace/model/README.txt'] }),
    ).toBe('336f9c3a29de');
  });
  it('matches Go for a clone, with and without a recovery nonce', () => {
    expect(prepareDigest({ fromStorageName: 'model-cache' })).toBe('a1eb515be793');
    expect(prepareDigest({ fromStorageName: 'model-cache' }, 'nonce-1')).toBe('b5ac0282fe4f');
  });
  it('escapes HTML characters and U+2028 as Go does', () => {
    expect(prepareDigest({ fromImage: 'img<&>', args: ['a\u2028b'] })).toBe('f0b2c849024c');
  });
  it('leaves empty lists out', () => {
    expect(prepareDigest({ fromStorageName: 'model-cache', command: [], args: [] })).toBe('a1eb515be793');
  });
});

describe('quantities', () => {
  it('parses and compares exactly', () => {
    const q = (s: string) => parseQuantity(s)!;
    expect(compareQuantities(q('20Gi'), q('20480Mi'))).toBe(0);
    expect(compareQuantities(q('1G'), q('1Gi'))).toBe(-1);
    expect(compareQuantities(q('1.5Gi'), q('1536Mi'))).toBe(0);
    expect(compareQuantities(q('500m'), q('0.5'))).toBe(0);
    expect(compareQuantities(q('1e3'), q('1k'))).toBe(0);
    expect(compareQuantities(q('40Gi'), q('20Gi'))).toBe(1);
  });
  it('rejects what Kubernetes rejects', () => {
    for (const bad of ['twenty', '', '20 Gi', '20GB', 'Gi', '1.2.3', ' 1Gi']) expect(parseQuantity(bad)).toBeUndefined();
  });
});
