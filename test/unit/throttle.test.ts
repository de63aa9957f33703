import { describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { clientRateLimitFromEnv, clientRateLimitOf, MAX_RETRIES, retryDelayMs, setClientRateLimit, throttle } from '../../src/kube/throttle';

describe('retryDelayMs (client-go checkWait)', () => {
  it.each([
    [429, '3', 0, 3000],
    [429, null, 0, 1000], // no header: one second
    [429, '0', 0, 1000], // never a tight loop
    [429, '600', 0, 30_000], // capped, not ignored
    [503, '2', 0, 2000],
    [500, '1', 0, 1000],
    [503, null, 0, undefined], // a 5xx without Retry-After is the caller's answer
    [409, '1', 0, undefined],
    [404, null, 0, undefined],
    [429, '1', MAX_RETRIES, undefined], // retries exhausted
    [429, 'soon', 0, 1000],
  ])('status %i, Retry-After %s, attempt %i → %s ms', (status, header, attempt, want) => {
    expect(retryDelayMs(status, header, attempt, () => 0)).toBe(want);
  });

  it('spreads a refused burst over half the delay again, never sooner', () => {
    expect(retryDelayMs(429, '2', 0, () => 0.999)).toBe(2999);
    // The largest double below 1 (Math.random's bound) stays below half again: once rounded to 3000.
    expect(retryDelayMs(429, '2', 0, () => 1 - Number.EPSILON / 2)).toBe(2999);
    const delays = Array.from({ length: 200 }, () => retryDelayMs(429, '2', 0)!);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(2000);
    expect(Math.max(...delays)).toBeLessThan(3000);
    expect(new Set(delays).size).toBeGreaterThan(50);
  });
});

describe('client-side rate limit', () => {
  it('lets a burst through at once and holds the rest to the rate', async () => {
    const kc = new KubeConfig();
    setClientRateLimit(kc, { qps: 10, burst: 5 });
    const started = performance.now();
    const at: number[] = [];
    await Promise.all(Array.from({ length: 15 }, () => throttle(kc, 'GET', 'h').then(() => at.push(performance.now() - started))));
    at.sort((a, b) => a - b);
    expect(at[4]!).toBeLessThan(100); // the burst of 5
    expect(at[5]!).toBeGreaterThanOrEqual(400); // then 10 per second
    expect(at[14]!).toBeGreaterThanOrEqual(900);
  });

  it('qps 0 turns it off', async () => {
    const kc = new KubeConfig();
    setClientRateLimit(kc, { qps: 0, burst: 0 });
    const started = performance.now();
    await Promise.all(Array.from({ length: 1000 }, () => throttle(kc, 'GET', 'h')));
    expect(performance.now() - started).toBeLessThan(200);
  });

  it('reads KUBE_API_QPS and KUBE_API_BURST, and names a bad value', () => {
    const saved = { q: process.env.KUBE_API_QPS, b: process.env.KUBE_API_BURST };
    try {
      process.env.KUBE_API_QPS = '50';
      delete process.env.KUBE_API_BURST;
      expect(clientRateLimitFromEnv()).toEqual({ qps: 50, burst: 400 });
      process.env.KUBE_API_BURST = '75';
      expect(clientRateLimitFromEnv()).toEqual({ qps: 50, burst: 75 });
      process.env.KUBE_API_QPS = 'fast';
      expect(() => clientRateLimitFromEnv()).toThrow(/KUBE_API_QPS/);
      process.env.KUBE_API_QPS = '0';
      const kc = new KubeConfig();
      expect(clientRateLimitOf(kc).qps).toBe(0);
    } finally {
      for (const [k, v] of [['KUBE_API_QPS', saved.q], ['KUBE_API_BURST', saved.b]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
