/**
 * GraphiQL in a real headless browser (Debian's chromium driven by playwright-core): the page at
 * /graphql loads without internet access (every asset is served by the service itself), runs a
 * storageChanged subscription over graphql-ws, and shows an update made through the API arrive
 * in the result pane.
 *
 * Needs /usr/bin/chromium (`apt-get install -y chromium`; .ci/run installs it when missing).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { CreateStorageDocument, UpdateStorageDocument } from '../graphql/generated/graphql';
import { gql } from '../support/http';
import { testEnv, uniq } from '../support/env';

const CHROMIUM = '/usr/bin/chromium';
const NS = 'runtime-instance';

describe('GraphiQL in headless chromium', () => {
  let userDataDir: string;
  let context: BrowserContext;
  let page: Page;
  /** Requests the page tried to send anywhere but the service (all refused). */
  const foreign: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); .ci/run does this before npm test`);
    }
    userDataDir = mkdtempSync(join(tmpdir(), 'graphiql-e2e-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const origin = new URL(testEnv().url).origin;
    // The machine has no internet; prove the page does not need it: anything not served by the
    // service is refused and recorded.
    await context.route('**/*', (route) => {
      const u = route.request().url();
      if (u.startsWith(origin) || u.startsWith('data:') || u.startsWith('blob:')) return route.continue();
      foreign.push(u);
      return route.abort();
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => pageErrors.push(String(e)));
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  /** The result pane's text, whitespace normalised (Monaco renders non-breaking spaces). */
  const resultText = async () => (await page.locator('.graphiql-response').innerText()).replace(/\s+/g, ' ');

  it('runs a storageChanged subscription and shows an update arrive', async () => {
    const name = uniq('graphiql');
    const created = await gql(CreateStorageDocument, { input: { name, namespace: NS, size: '1Gi' } });
    expect(created.data?.createStorage.__typename).toBe('CreateStorageSuccess');

    const query = `subscription Watch {\n  storageChanged(namespace: "${NS}", name: "${name}") {\n    type\n    storage { name size }\n  }\n}`;
    const res = await page.goto(`${testEnv().url}/graphql?query=${encodeURIComponent(query)}`, { waitUntil: 'load' });
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-type']).toContain('text/html');
    await expect(page.title()).resolves.toBe('GPU runtime control plane');

    const run = page.locator('button.graphiql-execute-button');
    await run.waitFor({ state: 'visible', timeout: 60_000 });
    // The editor holds the query from the URL.
    await page.locator('.graphiql-query-editor').getByText('storageChanged').first().waitFor({ timeout: 30_000 });
    await run.click();

    // First event: the current state.
    await expect.poll(resultText, { timeout: 30_000 }).toMatch(new RegExp(`"type": "ADDED".*"name": "${name}".*"size": "1Gi"`));

    const updated = await gql(UpdateStorageDocument, { input: { namespace: NS, name, size: '3Gi' } });
    expect(updated.data?.updateStorage.__typename).toBe('UpdateStorageSuccess');
    await expect.poll(resultText, { timeout: 30_000 }).toMatch(new RegExp(`"type": "MODIFIED".*"name": "${name}".*"size": "3Gi"`));

    expect(foreign).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
