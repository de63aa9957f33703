import { describe, expect, it, vi } from 'vitest';
import { Controller } from '../../src/kube/controller';

class Recorder extends Controller {
  readonly seen: string[] = [];
  constructor(private readonly keys: string[]) {
    super('test', { workers: 1, resyncMs: 60_000 });
  }
  protected watch(): (() => void)[] {
    return [];
  }
  protected resyncKeys(): Iterable<string> {
    return this.keys;
  }
  async reconcile(key: string): Promise<void> {
    this.seen.push(key);
  }
}

describe('Controller', () => {
  it('reconciles everything already cached when it starts (a restart or a new leadership term replays no events)', async () => {
    const c = new Recorder(['ns/a', 'ns/b']);
    c.start();
    await vi.waitFor(() => expect(c.queue.stats.processed).toBe(2), { timeout: 2000, interval: 5 });
    c.stop();
    expect(c.seen.sort()).toEqual(['ns/a', 'ns/b']);
  });
});
