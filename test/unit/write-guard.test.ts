/**
 * Kube.guarded (src/kube/resources.ts): the guard runs before every write and a refused write
 * never reaches the network; reads are not guarded. The server address is unreachable on
 * purpose: a write that got past the guard would fail with a connection error instead. The last
 * check, when undici hands the request to a connection (guardAtSend), is tested against a
 * loopback HTTP server that records what reaches it.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kube, LeadershipLostError, R } from '../../src/kube/resources';

function unreachable(server = 'https://127.0.0.1:1'): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
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

describe('the guard at send (guardAtSend)', () => {
  let server: Server;
  let url: string;
  const received: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      received.push(`${req.method} ${req.url?.split('?')[0]}`);
      req.resume();
      req.on('end', () => res.writeHead(201, { 'content-type': 'application/json' }).end('{"metadata":{"name":"a"}}'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  const cm = { metadata: { name: 'a', namespace: 'default' } };

  it('refuses a write whose term ended after the last check before fetch: nothing reaches the server', async () => {
    received.length = 0;
    let checks = 0;
    // Passes when the write is asked for and before fetch; the term ends before a connection takes it.
    const kube = new Kube(unreachable(url)).guarded(() => {
      if (++checks > 2) throw new LeadershipLostError('ended while the request waited');
    });
    const err = await kube.create(R.service, cm).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LeadershipLostError);
    expect(checks).toBe(3);
    expect(received).toEqual([]);
  });

  it('sends the write while the guard passes (positive control: the same server records it)', async () => {
    received.length = 0;
    let checks = 0;
    const kube = new Kube(unreachable(url)).guarded(() => void checks++);
    expect((await kube.create(R.service, cm)).metadata?.name).toBe('a');
    expect(checks).toBe(3);
    expect(received).toEqual(['POST /api/v1/namespaces/default/services']);
  });
});
