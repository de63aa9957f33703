/**
 * A create request's operationID, held across replicas while the request runs: a
 * coordination.k8s.io/v1 Lease in the stock namespace named after the operationID, created by the
 * request (the API server lets only one create win) and deleted when it ends. Holding it, the
 * request asks the API server (not its cache, which may trail another replica) whether a unit of
 * this operationID already exists. So one operationID never makes two units, whichever replicas
 * its requests reach: a twin (same payload) replays the unit, another payload conflicts.
 *
 * A Lease left by a process that died mid-request is taken over once its renewTime is older than
 * {@link OPERATION_LEASE_SECONDS} (judged on this host's clock).
 * Source: ../shared/spec/contract.md ("operationID" idempotency, "Rules the API enforces").
 */
import { randomUUID } from 'node:crypto';
import type { V1Lease } from '@kubernetes/client-node';
import { ANNOTATIONS, GROUP, STOCK_NAMESPACE } from '../api/constants';
import { sha256Hex } from '../api/naming';
import type { GPUUnit } from '../api/types';
import { isAlreadyExists, isConflict, isNotFound } from '../kube/errors';
import { microTime } from '../kube/leader';
import { R } from '../kube/resources';
import type { ServiceContext } from './context';
import { conflict } from './errors';

/** Label on active units: the operationID's hash, so a live list finds a unit by operationID. */
export const OPERATION_HASH_LABEL = `${GROUP}/operation-hash`;
/** A Lease whose holder has not finished after this many seconds is taken as abandoned. */
export const OPERATION_LEASE_SECONDS = 60;
const UNIT_ANNOTATION = `${GROUP}/unit`;

/** First 20 hex of sha256(operationID): the label value and the Lease's name suffix. */
export function operationHash(operationID: string): string {
  return sha256Hex(operationID).slice(0, 20);
}

/** What holding the operationID found. */
export type OperationHold =
  /** Held: run the request, then `release()` (always, success or not). */
  | { held: true; release: () => Promise<void> }
  /** The same request (operationID and payload) already made this unit: answer it as a replay. */
  | { held: false; replay: GPUUnit };

/**
 * Holds `operationID` for a create of unit `namespace/name` with payload hash `hash`.
 * A request of the same operationID and payload in flight elsewhere is waited for (up to 10 s)
 * and its unit answered as a replay.
 * @throws ServiceError 409 operation_conflict when another payload holds or used the operationID,
 *   or when the same request elsewhere neither finishes nor gives up in time.
 */
export async function holdOperation(ctx: ServiceContext, operationID: string, hash: string, namespace: string, name: string): Promise<OperationHold> {
  const leaseName = `unit-op-${operationHash(operationID)}`;
  const unit = `${namespace}/${name}`;
  const identity = randomUUID();
  const annotations = { [ANNOTATIONS.operationID]: operationID, [ANNOTATIONS.requestHash]: hash, [UNIT_ANNOTATION]: unit };
  const spec = () => ({ holderIdentity: identity, leaseDurationSeconds: OPERATION_LEASE_SECONDS, renewTime: microTime(new Date()) as never });
  for (let attempt = 0; attempt < 3; attempt++) {
    let lease: V1Lease | undefined;
    try {
      lease = await ctx.kube.create(R.lease, { metadata: { name: leaseName, namespace: STOCK_NAMESPACE, annotations }, spec: spec() });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    if (!lease) {
      const other = await ctx.kube.get(R.lease, STOCK_NAMESPACE, leaseName).catch((err) => (isNotFound(err) ? undefined : Promise.reject(err)));
      if (!other) continue; // released meanwhile: try again
      const renewed = Date.parse(String(other.spec?.renewTime ?? ''));
      const abandoned = !Number.isFinite(renewed) || Date.now() - renewed > OPERATION_LEASE_SECONDS * 1000;
      if (abandoned) {
        try {
          lease = await ctx.kube.replace(R.lease, { ...other, metadata: { ...other.metadata, annotations }, spec: { ...other.spec, ...spec() } });
        } catch (err) {
          if (isConflict(err) || isNotFound(err)) continue;
          throw err;
        }
      } else {
        const a = other.metadata?.annotations ?? {};
        if (a[ANNOTATIONS.requestHash] !== hash || a[UNIT_ANNOTATION] !== unit) {
          throw conflict(`operationID ${operationID} is in use by another request (unit ${a[UNIT_ANNOTATION] ?? '?'}) with another payload; use a new operationID`);
        }
        // The same request, in flight on another replica: its unit is the answer.
        const made = await waitForUnit(ctx, namespace, name, operationID, hash);
        if (made) return { held: false, replay: made };
        continue; // it gave up (or is slow): try to hold it ourselves
      }
    }
    const held = lease!;
    const release = async () => {
      await ctx.kube.delete(R.lease, STOCK_NAMESPACE, leaseName, { uid: held.metadata?.uid }).catch(() => undefined);
    };
    // Holding it: has a unit of this operationID been made already (the cache may trail)?
    const existing = (await ctx.kube.list(R.unit, undefined, `${OPERATION_HASH_LABEL}=${operationHash(operationID)}`)).items.find(
      (u) => !u.metadata.deletionTimestamp && u.metadata.annotations?.[ANNOTATIONS.operationID] === operationID,
    );
    if (existing) {
      await release();
      const a = existing.metadata.annotations ?? {};
      if (a[ANNOTATIONS.requestHash] === hash && existing.metadata.namespace === namespace && existing.metadata.name === name) return { held: false, replay: existing };
      throw conflict(`operationID ${operationID} was already used with another payload (unit ${existing.metadata.namespace}/${existing.metadata.name}); use a new operationID`);
    }
    return { held: true, release };
  }
  throw conflict(`operationID ${operationID} is busy with a request of the same payload that has not finished; retry shortly`);
}

/** The unit made by this operationID and payload, waiting up to 10 s for it in the cache. */
async function waitForUnit(ctx: ServiceContext, namespace: string, name: string, operationID: string, hash: string): Promise<GPUUnit | undefined> {
  const same = (u: GPUUnit | undefined) =>
    !!u && !u.metadata.deletionTimestamp && u.metadata.annotations?.[ANNOTATIONS.operationID] === operationID && u.metadata.annotations?.[ANNOTATIONS.requestHash] === hash;
  await ctx.cache.units.waitFor(namespace, name, same, 10_000);
  const u = ctx.cache.units.get(namespace, name);
  return same(u) ? u : undefined;
}
