/**
 * ../shared/acceptance/walkthrough.sh (or its copy in test/acceptance/) — the design text's API walkthrough with curl, as users of
 * the original platform run it — against the service under test, with KUBECTL set to the
 * cluster's own kubectl. Its last line is the verdict: "walkthrough: N passed, 0 failed".
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { testEnv } from '../support/env';

// The shared acceptance script beside the repository when it is there (the platform's current
// one), else the copy kept in test/acceptance/ (so a clone elsewhere still runs it).
const shared = fileURLToPath(new URL('../../../shared/acceptance/walkthrough.sh', import.meta.url));
const script = existsSync(shared) ? shared : fileURLToPath(new URL('../acceptance/walkthrough.sh', import.meta.url));

describe('acceptance walkthrough', () => {
  it('passes every step against the service on the local cluster', async () => {
    // A missing script is a failure, not a skip: the suite must not go green without it.
    expect(existsSync(script), `the acceptance script is missing: ${script}`).toBe(true);
    const env = testEnv();
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn('bash', [script], {
        env: { ...process.env, BASE_URL: env.url, KUBECTL: env.kubectl, KUBECONFIG: env.adminKubeconfig, TIMEOUT_S: '120' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('exit', (c) => resolve({ code: c, out }));
    });
    const lines = out.trim().split('\n');
    const last = lines.at(-1) ?? '';
    console.log(last);
    expect(lines.filter((l) => l.startsWith('FAIL')), out).toEqual([]);
    expect(last).toMatch(/^walkthrough: \d+ passed, 0 failed$/);
    expect(code).toBe(0);
  }, 600_000);
});
