/**
 * Leader election against the real API server: one leader among replicas, takeover after a
 * graceful release and after a crash (no renewals), never two leaders at once.
 */
import { describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { LeaderElector } from '../../src/kube/leader';
import { Kube, R } from '../../src/kube/resources';
import { eventually, testEnv, uniq } from '../support/env';

function kube(): Kube {
  const kc = new KubeConfig();
  kc.loadFromFile(testEnv().kubeconfig);
  return new Kube(kc);
}

function elector(name: string, identity: string, log: string[], retryPeriodMs = 200, leaseDurationMs = 2000) {
  return new LeaderElector(kube(), {
    namespace: 'gpu-runtime-system',
    name,
    identity,
    leaseDurationMs,
    renewDeadlineMs: leaseDurationMs * 0.75,
    retryPeriodMs,
    onStartedLeading: () => log.push(`${identity}+`),
    onStoppedLeading: () => log.push(`${identity}-`),
  });
}

describe('leader election', () => {
  it('elects exactly one leader and hands over on graceful stop', async () => {
    const name = uniq('le');
    const log: string[] = [];
    // A long lease: a slow renew under load must not let b take over before a releases. The
    // handover itself does not wait for the lease: the release empties the holder.
    const a = elector(name, 'a', log, 200, 10_000);
    const b = elector(name, 'b', log, 200, 10_000);
    a.start();
    await eventually(() => a.isLeader, 'a leads');
    b.start();
    await new Promise((r) => setTimeout(r, 1500));
    expect(b.isLeader).toBe(false);
    await a.stop();
    await eventually(() => b.isLeader, 'b takes over after a releases', 5000, 50);
    expect(log).toEqual(['a+', 'a-', 'b+']);
    await b.stop();
  });

  it('stop() while a renew is on the wire: never leads again, and the lease is left released', async () => {
    // Renewing every 5 ms keeps a request in flight most of the time; ten stops make the race near certain.
    for (let round = 0; round < 10; round++) {
      const name = uniq('le');
      const log: string[] = [];
      const a = elector(name, 'a', log, 5);
      a.start();
      await eventually(() => a.isLeader, 'a leads', 5000, 5);
      await new Promise((r) => setTimeout(r, 20 + round * 3));
      await a.stop();
      await new Promise((r) => setTimeout(r, 100));
      expect(log).toEqual(['a+', 'a-']);
      expect(a.isLeader).toBe(false);
      expect((await kube().get(R.lease, 'gpu-runtime-system', name)).spec?.holderIdentity).toBe('');
    }
  });

  it('takes over from a crashed leader only after the lease expires', async () => {
    const name = uniq('le');
    const log: string[] = [];
    const a = elector(name, 'a', log);
    a.start();
    await eventually(() => a.isLeader, 'a leads');
    // A crash: no release, no more renewals.
    (a as unknown as { stopped: boolean }).stopped = true;
    const crashedAt = Date.now();
    const b = elector(name, 'b', log);
    b.start();
    await eventually(() => b.isLeader, 'b takes over', 10_000, 50);
    expect(Date.now() - crashedAt).toBeGreaterThanOrEqual(1500);
    await b.stop();
  });
});
