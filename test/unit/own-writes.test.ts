/**
 * OwnWrites (src/kube/own-writes.ts): a reconcile sees the controller's own last write while the
 * informer still shows the version that write replaced, and only then.
 */
import { describe, expect, it, vi } from 'vitest';
import { OwnWrites, OWN_WRITE_TTL_MS } from '../../src/kube/own-writes';

const obj = (rv: string, phase: string, uid = 'u1') => ({ metadata: { name: 's', namespace: 'n', uid, resourceVersion: rv }, status: { phase } });

describe('OwnWrites', () => {
  it('stands in for the informer while it still shows the replaced version', () => {
    const w = new OwnWrites<ReturnType<typeof obj>>();
    w.wrote('n/s', '10', obj('11', 'Ready'));
    expect(w.latest('n/s', obj('10', 'Pending'))?.status.phase).toBe('Ready');
    expect(w.latest('n/s', obj('10', 'Pending'))?.metadata.resourceVersion).toBe('11');
  });

  it('gives way as soon as the informer shows our write or anyone else\'s', () => {
    const w = new OwnWrites<ReturnType<typeof obj>>();
    w.wrote('n/s', '10', obj('11', 'Ready'));
    expect(w.latest('n/s', obj('11', 'Ready'))?.metadata.resourceVersion).toBe('11');
    expect(w.size).toBe(0);
    w.wrote('n/s', '11', obj('12', 'Ready'));
    // Someone else wrote version 13 over ours: theirs wins, ours is forgotten.
    expect(w.latest('n/s', obj('13', 'Failed'))?.status.phase).toBe('Failed');
    expect(w.latest('n/s', obj('11', 'Pending'))?.status.phase).toBe('Pending');
  });

  it('never applies to a re-created object of the same name, a deleted one, or after the TTL', () => {
    const w = new OwnWrites<ReturnType<typeof obj>>();
    w.wrote('n/s', '10', obj('11', 'Ready'));
    expect(w.latest('n/s', obj('10', 'Pending', 'u2'))?.status.phase).toBe('Pending');
    w.wrote('n/s', '10', obj('11', 'Ready'));
    expect(w.latest('n/s', undefined)).toBeUndefined();
    vi.useFakeTimers();
    try {
      w.wrote('n/s', '10', obj('11', 'Ready'));
      vi.advanceTimersByTime(OWN_WRITE_TTL_MS + 1);
      expect(w.latest('n/s', obj('10', 'Pending'))?.status.phase).toBe('Pending');
    } finally {
      vi.useRealTimers();
    }
  });
});
