/**
 * Helpers for GPUUnit integration tests: seed stock through REST and wait until it is consumable,
 * read units and their children from the cluster as admin.
 */
import { expect } from 'vitest';
import { adminKube, eventually, uniq } from './env';
import { rest } from './http';
import { R } from '../../src/kube/resources';
import type { GPUUnit } from '../../src/api/types';

export const STOCK_NS = 'runtime-stock';
export const NS = 'runtime-instance';

/** A fresh specName, so tests never take each other's stock. */
export function uniqSpec(): string {
  return uniq('g1').replace('-', '.');
}

/**
 * Seeds `replicas` stock units of `specName` and waits until the operation succeeded and all of
 * them are Ready. @returns the operationID and the stock units' names.
 */
export async function seedReady(specName: string, replicas: number, opts: { memory?: string; gpu?: number } = {}): Promise<{ operationID: string; names: string[] }> {
  const operationID = uniq(`seed-${specName}`);
  const res = await rest('POST', '/api/v1/operator/stock-units', { operationID, specName, memory: opts.memory ?? '1Gi', gpu: opts.gpu ?? 0, replicas });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  const op = await eventually(async () => {
    const r = await rest('GET', `/api/v1/operator/jobs/${encodeURIComponent(operationID)}`);
    return r.body?.data?.status === 'succeeded' ? r.body.data : undefined;
  }, `operation ${operationID} succeeded`);
  const names = op.objects as string[];
  expect(names).toHaveLength(replicas);
  await eventually(async () => {
    const units = await stockOf(specName);
    return units.length === replicas && units.every((u) => u.status?.phase === 'Ready');
  }, `${replicas} Ready stock units of ${specName}`);
  // And as the service sees them (its cache may trail the API server by a moment).
  await eventually(async () => {
    const r = await rest('GET', `/api/v1/operator/stock-units?specName=${encodeURIComponent(specName)}`);
    const units = (r.body?.data ?? []) as { phase: string }[];
    return units.length === replicas && units.every((u) => u.phase === 'Ready');
  }, `${replicas} Ready stock units of ${specName} in the service's view`);
  return { operationID, names };
}

/** Stock units of a spec, from the API server. */
export async function stockOf(specName: string): Promise<GPUUnit[]> {
  const list = await adminKube().list(R.unit, STOCK_NS);
  return list.items.filter((u) => u.spec.specName === specName && !u.metadata.deletionTimestamp);
}

/** A minimal create body for an active unit. */
export function unitBody(name: string, specName: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { operationID: uniq(`op-${name}`), name, namespace: NS, specName, image: 'python:3.12', ...extra };
}

/** Polls GET /api/v1/gpu-units/{name} until `pred` holds; returns the view. */
export async function unitWhere(name: string, pred: (u: any) => boolean, what: string, timeoutMs = 60_000): Promise<any> {
  return eventually(async () => {
    const r = await rest('GET', `/api/v1/gpu-units/${name}?namespace=${NS}`);
    return r.status === 200 && pred(r.body!.data) ? r.body!.data : undefined;
  }, what, timeoutMs);
}

/**
 * Creates a 1Gi storage through REST (optionally with a prepare contract) and, with `waitReady`,
 * waits until it is Ready.
 */
export async function createStorage(name: string, opts: { prepare?: Record<string, unknown>; waitReady?: boolean } = {}): Promise<void> {
  const res = await rest('POST', '/api/v1/gpu-storages', { name, namespace: NS, size: '1Gi', ...(opts.prepare ? { prepare: opts.prepare } : {}) });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  if (opts.waitReady) {
    await eventually(async () => (await rest('GET', `/api/v1/gpu-storages/${name}?namespace=${NS}`)).body?.data?.phase === 'Ready', `storage ${name} Ready`);
  }
}
