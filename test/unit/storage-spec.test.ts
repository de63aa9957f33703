import { describe, expect, it } from 'vitest';
import { storageSpecProblem } from '../../src/api/storage-spec';

const ok = { size: '1Gi' };
describe('storageSpecProblem (contract rules the CRD cannot state)', () => {
  it('accepts valid specs', () => {
    expect(storageSpecProblem('runtime-instance', 's', ok)).toBeUndefined();
    expect(storageSpecProblem('t', 's', { size: '20Gi', prepare: { fromImage: 'busybox:1.36', args: ['true'] } })).toBeUndefined();
    expect(storageSpecProblem('t', 's', { size: '1Gi', prepare: { fromStorageName: 'src' } })).toBeUndefined();
  });
  it.each([
    ['runtime-stock', 's', ok, 'metadata.namespace'],
    ['t', 's', { size: '100m' }, 'spec.size'],
    ['t', 's', { size: '0' }, 'spec.size'],
    ['t', 's', { size: 'lots' }, 'spec.size'],
    ['t', 's', { size: '9Ei' }, 'spec.size'],
    ['t', 's', { size: '1Gi', prepare: { fromImage: 'a', fromStorageName: 'b', args: ['x'] } }, 'spec.prepare'],
    ['t', 's', { size: '1Gi', prepare: {} }, 'spec.prepare'],
    ['t', 's', { size: '1Gi', prepare: { fromImage: 'busybox 1', args: ['x'] } }, 'spec.prepare.fromImage'],
    ['t', 's', { size: '1Gi', prepare: { fromImage: 'busybox' } }, 'spec.prepare'],
    ['t', 's', { size: '1Gi', prepare: { fromStorageName: 'b', command: ['sh'] } }, 'spec.prepare.command'],
    ['t', 's', { size: '1Gi', prepare: { fromStorageName: 's' } }, 'spec.prepare.fromStorageName'],
  ])('in %s, %s with %j: names %s', (ns, name, spec, field) => {
    expect(storageSpecProblem(ns, name, spec)?.field).toBe(field);
  });
});
