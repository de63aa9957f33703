import { describe, expect, it, vi } from 'vitest';
import { KubeHttpError } from '../../src/kube/errors';
import { WorkQueue } from '../../src/kube/workqueue';

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

describe('WorkQueue (client-go semantics)', () => {
  it('stores a key added while queued once', async () => {
    const q = new WorkQueue({ name: 't' });
    q.add('a');
    q.add('a');
    q.add('b');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
  });

  it('processes a key added while processing again after it finishes, never concurrently', async () => {
    const q = new WorkQueue({ name: 't' });
    q.add('a');
    const k = await q.get();
    q.add('a');
    expect(q.length).toBe(0); // not handed out while processing
    q.done(k!);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
  });

  it('retries failures with per-key exponential backoff and forgets on success', async () => {
    const q = new WorkQueue({ name: 't', baseDelayMs: 20 });
    const calls: number[] = [];
    let n = 0;
    const run = q.run(1, async () => {
      calls.push(Date.now());
      if (++n < 4) throw new Error('transient');
    });
    q.add('a');
    await tick(400);
    q.shutdown();
    await run;
    expect(calls).toHaveLength(4);
    const gaps = calls.slice(1).map((t, i) => t - calls[i]!);
    // 20, 40, 80 ms (timers may fire a little late, never early)
    expect(gaps[0]).toBeGreaterThanOrEqual(19);
    expect(gaps[1]).toBeGreaterThanOrEqual(39);
    expect(gaps[2]).toBeGreaterThanOrEqual(79);
    expect(q.numRequeues('a')).toBe(0);
    expect(q.stats).toMatchObject({ processed: 1, failed: 3 });
  });

  it('keeps the earliest of several addAfter schedules and honours requeueAfterMs', async () => {
    const q = new WorkQueue({ name: 't' });
    const seen: string[] = [];
    let first = true;
    const run = q.run(2, async (key) => {
      seen.push(key);
      if (first) {
        first = false;
        return { requeueAfterMs: 30 };
      }
    });
    q.addAfter('x', 1000);
    q.addAfter('x', 10);
    await tick(100);
    q.shutdown();
    await run;
    expect(seen).toEqual(['x', 'x']);
  });

  it('never runs one key on two workers at once', async () => {
    const q = new WorkQueue({ name: 't' });
    let inFlight = 0;
    let maxInFlight = 0;
    const run = q.run(4, async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await tick(5);
      inFlight--;
    });
    for (let i = 0; i < 50; i++) {
      q.add('same');
      await tick(1);
    }
    await tick(50);
    q.shutdown();
    await run;
    expect(maxInFlight).toBe(1);
  });
});

describe('WorkQueue and Retry-After', () => {
  it('requeues a reconcile refused with Retry-After no sooner than the server asked', async () => {
    const q = new WorkQueue({ name: 't', baseDelayMs: 5 });
    const calls: number[] = [];
    const run = q.run(1, async () => {
      calls.push(Date.now());
      if (calls.length === 1) throw new KubeHttpError(429, 'GET /x: 429 Too many requests', undefined, 1);
    });
    q.add('a');
    await vi.waitFor(() => expect(calls).toHaveLength(2), { timeout: 3000, interval: 20 });
    q.shutdown();
    await run;
    // The per-key backoff alone would have retried after 5 ms.
    expect(calls[1]! - calls[0]!).toBeGreaterThanOrEqual(990);
  });
});
