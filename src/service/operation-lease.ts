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

/** How long a request waits, in all, for a request of the same payload that holds the operationID, in ms. */
export const TWIN_WAIT_MS = 10_000;

/**
 * Holds `operationID` for a create of unit `namespace/name` with payload hash `hash`.
 * A request of the same operationID and payload in flight elsewhere is waited for (up to
 * {@link TWIN_WAIT_MS} in all): its unit is answered as a replay; when it gives up (its Lease goes),
 * this request runs itself and meets the same answer (e.g. insufficient_capacity) first hand.
 * @throws ServiceError 409 operation_conflict when another payload holds or used the operationID,
 *   or when a request of the same payload holds it past the wait (its Lease is named, with when it
 *   counts as abandoned).
 */
export async function holdOperation(ctx: ServiceContext, operationID: string, hash: string, namespace: string, name: string): Promise<OperationHold> {
  const leaseName = `unit-op-${operationHash(operationID)}`;
  const unit = `${namespace}/${name}`;
  const identity = randomUUID();
  const annotations = { [ANNOTATIONS.operationID]: operationID, [ANNOTATIONS.requestHash]: hash, [UNIT_ANNOTATION]: unit };
  const spec = () => ({ holderIdentity: identity, leaseDurationSeconds: OPERATION_LEASE_SECONDS, renewTime: microTime(new Date()) as never });
  const deadline = Date.now() + TWIN_WAIT_MS;
  for (;;) {
    if (Date.now() > deadline + TWIN_WAIT_MS) throw conflict(`operationID ${operationID} is contended by requests that keep taking it; retry shortly`);
    let lease: V1Lease | undefined;
    try {
      lease = await ctx.kube.create(R.lease, { metadata: { name: leaseName, namespace: STOCK_NAMESPACE, annotations }, spec: spec() });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    if (!lease) {
      const other = await getLease(ctx, leaseName);
      if (!other) continue; // released meanwhile: try again
      const renewed = Date.parse(String(other.spec?.renewTime ?? ''));
      const abandonedAt = (Number.isFinite(renewed) ? renewed : 0) + OPERATION_LEASE_SECONDS * 1000;
      if (Date.now() > abandonedAt) {
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
        // The same request, in flight elsewhere: its unit is the answer, unless it gives up.
        const outcome = await waitForTwin(ctx, other, namespace, name, operationID, hash, deadline);
        if (outcome.made) return { held: false, replay: outcome.made };
        if (outcome.released) continue;
        throw conflict(
          `operationID ${operationID} is held by another request of the same payload (Lease ${STOCK_NAMESPACE}/${leaseName}) that has not finished; ` +
            `retry shortly (a holder that died is taken over after ${new Date(abandonedAt).toISOString()})`,
        );
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
}

async function getLease(ctx: ServiceContext, name: string): Promise<V1Lease | undefined> {
  try {
    return await ctx.kube.get(R.lease, STOCK_NAMESPACE, name);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * Waits until the twin holding `lease` made its unit (`made`), or let the Lease go or pass to
 * another holder (`released`), or `deadline` (epoch ms) passes (neither). Polls every 100 ms.
 */
async function waitForTwin(
  ctx: ServiceContext,
  lease: V1Lease,
  namespace: string,
  name: string,
  operationID: string,
  hash: string,
  deadline: number,
): Promise<{ made?: GPUUnit; released?: boolean }> {
  const same = (u: GPUUnit | undefined) =>
    !!u && !u.metadata.deletionTimestamp && u.metadata.annotations?.[ANNOTATIONS.operationID] === operationID && u.metadata.annotations?.[ANNOTATIONS.requestHash] === hash;
  while (Date.now() < deadline) {
    const u = ctx.cache.units.get(namespace, name);
    if (same(u)) return { made: u };
    const now = await getLease(ctx, lease.metadata!.name!);
    if (!now || now.metadata?.uid !== lease.metadata?.uid || now.spec?.holderIdentity !== lease.spec?.holderIdentity) {
      // Gone or taken over: the twin finished (its unit may still be on the way to the cache) or gave up.
      await ctx.cache.units.waitFor(namespace, name, same, 1000);
      const made = ctx.cache.units.get(namespace, name);
      return same(made) ? { made } : { released: true };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {};
}
