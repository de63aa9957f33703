/**
 * GraphiQL in a real headless browser (Debian's chromium driven by playwright-core): the page at
 * /graphql loads without internet access (every asset is served by the service itself), runs a
 * storageChanged subscription (over SSE, so the headers tab applies), and shows an update made
 * through the API arrive in the result pane; with a tenant's token pasted in the headers tab it
 * reads what that tenant may read. A page of another origin cannot drive the service: its
 * fetch and its WebSocket to the service are refused.
 *
 * Needs /usr/bin/chromium (`apt-get install -y chromium`; .ci/run installs it when missing).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { CreateStorageDocument, UpdateStorageDocument } from '../graphql/generated/graphql';
import { createServer, type Server } from 'node:http';
import { gql } from '../support/http';
import { auditBarrier, auditWrites, kubectl, serviceAccountToken, testEnv, uniq } from '../support/env';

const CHROMIUM = '/usr/bin/chromium';
const NS = 'runtime-instance';

describe('GraphiQL in headless chromium', () => {
  let userDataDir: string;
  let context: BrowserContext;
  let page: Page;
  /** Requests the page tried to send anywhere but the service (all refused). */
  const foreign: string[] = [];
  /** A web server of another origin (another port of loopback), serving a hostile page. */
  let evil: Server;
  let evilOrigin: string;
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
    evil = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>evil</title><p>nothing to see</p>');
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', () => r()));
    evilOrigin = `http://127.0.0.1:${(evil.address() as { port: number }).port}`;
    // The machine has no internet; prove the page does not need it: anything not served by the
    // service (or the test's own foreign-origin page) is refused and recorded.
    await context.route('**/*', (route) => {
      const u = route.request().url();
      if (u.startsWith(origin) || u.startsWith(evilOrigin) || u.startsWith('data:') || u.startsWith('blob:')) return route.continue();
      foreign.push(u);
      return route.abort();
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => pageErrors.push(String(e)));
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await new Promise((r) => evil?.close(r));
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

  it('with a token pasted in the headers tab, GraphiQL reads what that tenant may read; without it, FORBIDDEN', async () => {
    const ns = uniq('graphiql-tenant');
    await kubectl('create', 'namespace', ns);
    await kubectl('create', 'serviceaccount', 'app', '-n', ns);
    await kubectl('create', 'rolebinding', 'app-gpu', '--clusterrole=gpu-runtime-viewer', `--serviceaccount=${ns}:app`, '-n', ns);
    const token = await serviceAccountToken(ns, 'app');
    const query = `{\n  storages(namespace: "${ns}") {\n    edges { node { name } }\n  }\n}`;
    await page.goto(`${testEnv().url}/graphql?query=${encodeURIComponent(query)}`, { waitUntil: 'load' });
    const run = page.locator('button.graphiql-execute-button');
    await run.waitFor({ state: 'visible', timeout: 60_000 });
    await page.locator('.graphiql-query-editor').getByText('storages').first().waitFor({ timeout: 30_000 });
    await run.click();
    await expect.poll(resultText, { timeout: 30_000 }).toContain('FORBIDDEN');

    await page.getByRole('button', { name: 'Headers' }).click();
    const headers = page.locator('.graphiql-editor-tool .graphiql-editor').last();
    await headers.click();
    await page.keyboard.insertText(JSON.stringify({ Authorization: `Bearer ${token}` }));
    await run.click();
    await expect.poll(resultText, { timeout: 30_000 }).toMatch(/"edges": \[\s*\]/);
    expect(await resultText()).not.toContain('FORBIDDEN');
  });

  it('a page of another origin cannot drive the service: its fetch and its WebSocket are refused, nothing is written', async () => {
    const target = testEnv().url;
    const since = Date.now();
    const name = uniq('evil');
    await page.goto(`${evilOrigin}/`, { waitUntil: 'load' });
    const outcome = await page.evaluate(
      async ({ target, name }) => {
        const mutation = `mutation { createStorage(input: { name: "${name}", size: "1Gi" }) { __typename } }`;
        const tryFetch = async (init: RequestInit) => {
          try {
            const r = await fetch(`${target}/graphql`, init);
            return `status ${r.status}`;
          } catch (e) {
            return `refused: ${String(e)}`;
          }
        };
        const json = await tryFetch({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: mutation }) });
        // A "simple" request needs no preflight; the browser sends it, so the server must refuse it.
        const simple = await tryFetch({ method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ query: mutation }) });
        const recover = await tryFetch({ method: 'POST', mode: 'no-cors' });
        const ws = await new Promise<string>((resolve) => {
          const socket = new WebSocket(`${target.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
          socket.onopen = () => resolve('open');
          socket.onerror = () => resolve('error');
          socket.onclose = (e) => resolve(`closed ${e.code}`);
        });
        return { json, simple, recover, ws };
      },
      { target, name },
    );
    expect(outcome.json).toMatch(/^refused: TypeError/);
    expect(outcome.ws).not.toBe('open');
    await auditBarrier();
    expect(auditWrites(testEnv().operatorUser, since).filter((w) => w.objectRef?.name === name)).toEqual([]);
    expect(await gql(`{ storage(name: "${name}") { name } }`)).toMatchObject({ data: { storage: null } });
  });
});
