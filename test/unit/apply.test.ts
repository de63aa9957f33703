import { describe, expect, it } from 'vitest';
import { isSubset, stampAppliedHash } from '../../src/kube/apply';

describe('isSubset (compare only the fields we own)', () => {
  it('ignores fields the API server defaulted', () => {
    const desired = { spec: { replicas: 1, template: { spec: { containers: [{ name: 'a', image: 'x' }] } } } };
    const live = {
      spec: {
        replicas: 1,
        strategy: { type: 'RollingUpdate' },
        template: { spec: { dnsPolicy: 'ClusterFirst', containers: [{ name: 'a', image: 'x', terminationMessagePath: '/dev/termination-log' }] } },
      },
    };
    expect(isSubset(desired, live)).toBe(true);
  });
  it('sees a hand edit of an owned field, a missing element, or an extra list element', () => {
    expect(isSubset({ spec: { replicas: 1 } }, { spec: { replicas: 0 } })).toBe(false);
    expect(isSubset({ a: [1, 2] }, { a: [1] })).toBe(false);
    expect(isSubset({ a: [1] }, { a: [1, 2] })).toBe(false);
    expect(isSubset({ a: { b: 'x' } }, { a: null })).toBe(false);
  });
});

describe('stampAppliedHash', () => {
  it('is stable under key order and changes with content', () => {
    const a = stampAppliedHash({ metadata: { name: 'n' }, spec: { x: 1, y: 2 } } as never);
    const b = stampAppliedHash({ spec: { y: 2, x: 1 }, metadata: { name: 'n' } } as never);
    const c = stampAppliedHash({ metadata: { name: 'n' }, spec: { x: 1, y: 3 } } as never);
    const h = (o: { metadata?: { annotations?: Record<string, string> } }) => o.metadata?.annotations?.['runtime.lokiwager.io/applied-hash'];
    expect(h(a)).toBe(h(b));
    expect(h(a)).not.toBe(h(c));
  });
});
