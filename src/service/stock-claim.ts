/**
 * Consuming stock for createUnit (./units.ts): pick the oldest Ready, unclaimed stock unit of the
 * specName; claim it with a PUT carrying the resourceVersion read (409 when anyone wrote first:
 * read again, try again or move on), writing annotations stock-claim-id and stock-claimed-at. With
 * no free stock, look again at the live list and wait (up to 5 s) for claims in flight to settle
 * before answering insufficient_capacity. A failed request releases its claim (release).
 * Source: ../shared/spec/contract.md ("GPUUnit": stock consumption).
 */
import { randomUUID } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { ANNOTATIONS, STOCK_NAMESPACE } from '../api/constants';
import type { GPUUnit } from '../api/types';
import { releaseStockClaim } from '../kube/stock-claim';
import { claimState, consumableStock, isReadyUnit, STOCK_CLAIMED_AT } from '../api/stock';
import { isConflict, isNotFound, kubeMessageOf } from '../kube/errors';
import { R } from '../kube/resources';
import { logger } from '../logger';
import { awaitCached, type ServiceContext } from './context';
import { INDEX } from '../kube/cache';
import { insufficientCapacity } from './errors';

type UnitObject = GPUUnit & KubernetesObject;
const log = logger.child({ service: 'units' });

/**
 * The stock units (namespace/name) an active unit already names as its source, as a Set whose
 * membership is read from the cache's source-stock index when asked (O(1) per question, no scan).
 */
class ConsumedStock extends Set<string> {
  constructor(private readonly ctx: ServiceContext) {
    super();
  }
  override has(key: string): boolean {
    return this.ctx.cache.units.count(INDEX.sourceStock, key) > 0;
  }
}

function consumedStock(ctx: ServiceContext): Set<string> {
  return new ConsumedStock(ctx);
}

/**
 * Claims the oldest consumable stock unit of `specName` (see the module comment).
 * @returns the claimed stock unit as the API server answered and the claim id.
 * @throws CapacityError (409 insufficient_capacity) when none can be claimed.
 */
export async function claimStock(ctx: ServiceContext, specName: string): Promise<{ stock: UnitObject; claimID: string }> {
  const claimID = randomUUID();
  const consumed = consumedStock(ctx);
  // Stock units of the spec, from the stock-by-spec index (not every stock unit).
  const cached = consumableStock(ctx.cache.units.byIndex(INDEX.stockSpec, `spec:${specName}`), specName, Date.now(), consumed) as UnitObject[];
  const won = await claimFirst(ctx, cached, specName, consumed, claimID);
  if (won) return won;
  // The cache may lag behind the API server (a claim just released, a unit just Ready): look once
  // more at the live list before answering that there is no capacity.
  const tried = new Set(cached.map((u) => u.metadata.uid));
  const live = (await ctx.kube.list(R.unit, STOCK_NAMESPACE)).items as UnitObject[];
  const fresh = consumableStock(live, specName, Date.now(), consumed).filter((u) => !tried.has(u.metadata.uid)) as UnitObject[];
  const second = await claimFirst(ctx, fresh, specName, consumed, claimID);
  if (second) return second;
  // Ready stock claimed by requests still in flight may come free again (a request that fails
  // releases its claim): wait for one of those claims to settle (bounded), then look once more.
  const inFlight = live.filter((u) => u.spec.specName === specName && !u.metadata.deletionTimestamp && isReadyUnit(u) && claimState(u, Date.now()).live);
  if (inFlight.length) {
    await Promise.race(
      inFlight.map((u) =>
        ctx.cache.units.waitFor(STOCK_NAMESPACE, u.metadata.name!, (o) => !o || o.metadata.uid !== u.metadata.uid || !claimState(o, Date.now()).live, CLAIM_SETTLE_MS),
      ),
    );
    const now = consumedStock(ctx);
    const third = await claimFirst(ctx, consumableStock((await ctx.kube.list(R.unit, STOCK_NAMESPACE)).items, specName, Date.now(), now) as UnitObject[], specName, now, claimID);
    if (third) return third;
  }
  const all = live.filter((u) => u.spec.specName === specName && !u.metadata.deletionTimestamp);
  const ready = all.filter(isReadyUnit).length;
  throw insufficientCapacity(
    `no Ready, unclaimed stock unit of spec ${specName} (${all.length} stock unit(s) of this spec, ${ready} Ready, none free); ` +
      'seed stock with POST /api/v1/operator/stock-units or retry once seeded units are Ready',
  );
}

/** How long a request without free stock waits for claims in flight to settle, in ms. */
const CLAIM_SETTLE_MS = 5000;

/**
 * Claims the first of `candidates` (oldest first) that can still be claimed: a PUT with the
 * resourceVersion read; on 409 reads it again and tries again while it is still consumable.
 * @returns the claimed stock unit and the claim id, or undefined when none could be claimed.
 */
async function claimFirst(ctx: ServiceContext, candidates: UnitObject[], specName: string, consumed: Set<string>, claimID: string): Promise<{ stock: UnitObject; claimID: string } | undefined> {
  for (const candidate of candidates) {
    let cur: UnitObject = candidate;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const annotations = { ...cur.metadata.annotations, [ANNOTATIONS.stockClaimID]: claimID, [STOCK_CLAIMED_AT]: new Date().toISOString() };
        const stock = await ctx.kube.replace(R.unit, { ...cur, metadata: { ...cur.metadata, annotations } });
        return { stock, claimID };
      } catch (err) {
        if (isNotFound(err)) break;
        if (!isConflict(err)) throw err;
      }
      // Someone wrote first (another claimer, or a status update): read it again and see.
      try {
        cur = await ctx.kube.get(R.unit, STOCK_NAMESPACE, candidate.metadata.name!);
      } catch (err) {
        if (isNotFound(err)) break;
        throw err;
      }
      if (cur.metadata.uid !== candidate.metadata.uid || consumableStock([cur], specName, Date.now(), consumed).length === 0) break;
    }
  }
  return undefined;
}

/**
 * Releases a claim after a failed request and waits until this process's cache shows it free
 * again (the next request claims from the cache); logs, never throws, when that fails too.
 */
export async function releaseClaim(ctx: ServiceContext, stock: UnitObject, claimID: string): Promise<void> {
  try {
    const freed = await releaseStockClaim(ctx.kube, stock, claimID);
    if (freed) await awaitCached(ctx.cache.units, freed);
  } catch (err) {
    log.warn({ stock: stock.metadata.name, claimID, err: kubeMessageOf(err) }, 'could not release a stock claim; the unit controller releases it once it is abandoned');
  }
}
