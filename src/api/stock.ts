/**
 * Pure rules of stock consumption (../shared/spec/contract.md, "GPUUnit": an active unit is made by
 * consuming one Ready, unclaimed stock unit of the requested specName, oldest first; the stock unit
 * is claimed with annotation runtime.lokiwager.io/stock-claim-id, then deleted).
 *
 * A claim is written with the API server's optimistic concurrency (a PUT carrying the
 * resourceVersion that was read), so two claimers of one stock unit cannot both succeed. A claim
 * also records when it was made (annotation runtime.lokiwager.io/stock-claimed-at, RFC 3339): a
 * claim older than {@link STOCK_CLAIM_TTL_MS} whose consumer never appeared was left by a crashed
 * process and may be taken over (by a new claim) or released (by the unit controller).
 */
import { ANNOTATIONS, GROUP, STOCK_NAMESPACE } from './constants';
import type { GPUUnit } from './types';

/** When a claim was made (RFC 3339); not in the contract, kept beside stock-claim-id. */
export const STOCK_CLAIMED_AT = `${GROUP}/stock-claimed-at`;

/** A claim older than this, with no active unit made from the stock, is abandoned (60 s). */
export const STOCK_CLAIM_TTL_MS = 60_000;

/** What a stock unit's claim annotations say at `nowMs`. */
export interface ClaimState {
  claimID?: string;
  /** Epoch ms of the claim; NaN when the annotation is missing or unreadable. */
  claimedAtMs?: number;
  /** A claim is present and younger than the TTL. */
  live: boolean;
  /** A claim is present and older than the TTL (or without a readable time). */
  abandoned: boolean;
}

/** Reads the claim of a stock unit. A claim without a readable time counts as abandoned. */
export function claimState(unit: GPUUnit, nowMs: number): ClaimState {
  const a = unit.metadata.annotations ?? {};
  const claimID = a[ANNOTATIONS.stockClaimID] || undefined;
  if (!claimID) return { live: false, abandoned: false };
  const claimedAtMs = Date.parse(a[STOCK_CLAIMED_AT] ?? '');
  const fresh = Number.isFinite(claimedAtMs) && nowMs - claimedAtMs < STOCK_CLAIM_TTL_MS;
  return { claimID, claimedAtMs, live: fresh, abandoned: !fresh };
}

/** The stock unit an active unit was made from (annotations source-stock-name / -namespace). */
export function sourceStockOf(unit: GPUUnit): { name: string; namespace: string } | undefined {
  const a = unit.metadata.annotations ?? {};
  const name = a[ANNOTATIONS.sourceStockName];
  return name ? { name, namespace: a[ANNOTATIONS.sourceStockNamespace] || STOCK_NAMESPACE } : undefined;
}

/** The unit's Ready condition is True (for stock: its reservation Deployment is available). */
export function isReadyUnit(unit: GPUUnit): boolean {
  return unit.status?.phase === 'Ready' && !!unit.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
}

/**
 * Stock units that may be consumed for `specName` at `nowMs`, oldest first (creation time, then
 * name, so batch ordinals go in order): in the stock namespace, not being deleted, Ready, and
 * without a live claim. `consumed` holds `namespace/name` of stock units an active unit already
 * names as its source (their claim finished; they are only waiting to be deleted).
 */
export function consumableStock(units: GPUUnit[], specName: string, nowMs: number, consumed: Set<string> = new Set()): GPUUnit[] {
  return units
    .filter(
      (u) =>
        u.metadata.namespace === STOCK_NAMESPACE &&
        u.spec.specName === specName &&
        !u.metadata.deletionTimestamp &&
        isReadyUnit(u) &&
        !claimState(u, nowMs).live &&
        !consumed.has(`${u.metadata.namespace}/${u.metadata.name}`),
    )
    .sort((a, b) => {
      const ta = Date.parse(String(a.metadata.creationTimestamp ?? '')) || 0;
      const tb = Date.parse(String(b.metadata.creationTimestamp ?? '')) || 0;
      return ta - tb || a.metadata.name!.localeCompare(b.metadata.name!);
    });
}
