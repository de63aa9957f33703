/**
 * Kube.guarded (src/kube/resources.ts): the guard runs before every write and a refused write
 * never reaches the network; reads are not guarded. The server address is unreachable on
 * purpose: a write that got past the guard would fail with a connection error instead.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { Kube, LeadershipLostError, R } from '../../src/kube/resources';

function unreachable(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

describe('Kube.guarded', () => {
  const cm = { metadata: { name: 'a', namespace: 'default' } };

  it('refuses every write verb with the guard error, before any request', async () => {
    let checks = 0;
    const kube = new Kube(unreachable()).guarded(() => {
      checks++;
      throw new LeadershipLostError('test');
    });
    await expect(kube.create(R.service, cm)).rejects.toBeInstanceOf(LeadershipLostError);
    await expect(kube.replace(R.service, cm)).rejects.toBeInstanceOf(LeadershipLostError);
    await expect(kube.patch(R.service, 'default', 'a', {}, 'merge')).rejects.toBeInstanceOf(LeadershipLostError);
    await expect(kube.apply(R.service, cm)).rejects.toBeInstanceOf(LeadershipLostError);
    await expect(kube.delete(R.service, 'default', 'a')).rejects.toBeInstanceOf(LeadershipLostError);
    expect(checks).toBe(5);
  });

  it('lets writes through while the guard passes, and never guards reads', async () => {
    let checks = 0;
    const kube = new Kube(unreachable()).guarded(() => void checks++);
    // Past the guard, the request really goes out (and fails to connect).
    const err = await kube.create(R.service, cm).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(LeadershipLostError);
    // Once when the write is asked for, once more right before it is handed to undici.
    expect(checks).toBe(2);
    const refusing = new Kube(unreachable()).guarded(() => {
      throw new LeadershipLostError('test');
    });
    const read = await refusing.get(R.service, 'default', 'a').catch((e: unknown) => e);
    expect(read).not.toBeInstanceOf(LeadershipLostError);
  });
});
