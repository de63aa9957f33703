import { afterEach, describe, expect, it } from 'vitest';
import { env, envInt, envSecondsAsMs } from '../../src/env';
import { clientRateLimitFromEnv } from '../../src/kube/throttle';
import { slowConsumerOptionsFromEnv } from '../../src/graphql/slow-consumer';
import { authOptionsFromEnv } from '../../src/auth/index';

const NAMES = ['GRT_TEST_X', 'KUBE_API_QPS', 'KUBE_API_BURST', 'WS_STALL_SECONDS', 'WS_MAX_BUFFERED_KIB', 'RATE_LIMIT_PER_SECOND', 'AUTH_TOKEN_CACHE_TTL_SECONDS'];
afterEach(() => {
  for (const n of NAMES) delete process.env[n];
});

describe('settings from the environment (src/env.ts)', () => {
  it('an unset, empty or blank variable takes the default', () => {
    expect(envInt('GRT_TEST_X', 7, 1)).toBe(7);
    process.env.GRT_TEST_X = '';
    expect(envInt('GRT_TEST_X', 7, 1)).toBe(7);
    process.env.GRT_TEST_X = '  ';
    expect(envSecondsAsMs('GRT_TEST_X', 20)).toBe(20_000);
    expect(env('GRT_TEST_X').asFloatPositive()).toBeUndefined();
  });
  it('a value is read as given', () => {
    process.env.GRT_TEST_X = '12';
    expect(envInt('GRT_TEST_X', 7, 1)).toBe(12);
    process.env.GRT_TEST_X = '1.5';
    expect(envSecondsAsMs('GRT_TEST_X', 20)).toBe(1500);
  });
  it('a value the variable does not take is an error naming the variable', () => {
    process.env.GRT_TEST_X = 'abc';
    expect(() => envInt('GRT_TEST_X', 7, 1)).toThrow(/"GRT_TEST_X" should be a valid integer/);
    process.env.GRT_TEST_X = '0';
    expect(() => envInt('GRT_TEST_X', 7, 1, 256)).toThrow(/"GRT_TEST_X" should be an integer from 1 to 256, but was 0/);
    process.env.GRT_TEST_X = '-3';
    expect(() => envSecondsAsMs('GRT_TEST_X', 20)).toThrow(/"GRT_TEST_X" should be a positive float/);
  });
  it('the components read through it (throttle, slow consumers, auth)', () => {
    process.env.KUBE_API_QPS = '50';
    expect(clientRateLimitFromEnv()).toEqual({ qps: 50, burst: 400 });
    process.env.KUBE_API_QPS = '';
    expect(clientRateLimitFromEnv()).toEqual({ qps: 200, burst: 400 });
    process.env.KUBE_API_BURST = 'lots';
    expect(() => clientRateLimitFromEnv()).toThrow(/KUBE_API_BURST/);
    process.env.WS_STALL_SECONDS = '3';
    process.env.WS_MAX_BUFFERED_KIB = '';
    expect(slowConsumerOptionsFromEnv()).toEqual({ maxStallMs: 3000, maxBufferedBytes: 1 << 20 });
    process.env.WS_STALL_SECONDS = '0';
    expect(() => slowConsumerOptionsFromEnv()).toThrow(/WS_STALL_SECONDS/);
    process.env.RATE_LIMIT_PER_SECOND = '0';
    process.env.AUTH_TOKEN_CACHE_TTL_SECONDS = '2.5';
    const o = authOptionsFromEnv();
    expect(o.requestsPerSecond).toBe(0);
    expect(o.tokenCacheTtlMs).toBe(2500);
  });
});
