/**
 * Releasing a stock unit's claim (../shared/spec/contract.md, "GPUUnit": stock is claimed with
 * annotation runtime.lokiwager.io/stock-claim-id): the API service releases a claim its failed
 * create took, the unit controller one a crashed process left (../api/stock.ts STOCK_CLAIM_TTL_MS).
 */
import { ANNOTATIONS } from '../api/constants';
import { STOCK_CLAIMED_AT } from '../api/stock';
import type { GPUUnit } from '../api/types';
import { statusCodeOf } from './errors';
import { R, type Kube } from './resources';

/** JSON-pointer escape of a key (RFC 6901). */
const pointer = (k: string) => k.replaceAll('~', '~0').replaceAll('/', '~1');

/**
 * Releases a stock unit's claim only if it is still `claimID`: one JSON patch whose `test`
 * operation makes the API server refuse it (422) when someone else changed the claim meanwhile.
 * `stock` is the unit as last read (it tells whether the claimed-at annotation is there).
 * A missing unit or a changed claim is not an error.
 * @returns the stock unit as the API server answered, or undefined when there was nothing to release.
 */
export async function releaseStockClaim(kube: Kube, stock: GPUUnit, claimID: string): Promise<GPUUnit | undefined> {
  const id = `/metadata/annotations/${pointer(ANNOTATIONS.stockClaimID)}`;
  const ops: unknown[] = [{ op: 'test', path: id, value: claimID }, { op: 'remove', path: id }];
  if (stock.metadata.annotations?.[STOCK_CLAIMED_AT] !== undefined) ops.push({ op: 'remove', path: `/metadata/annotations/${pointer(STOCK_CLAIMED_AT)}` });
  try {
    return await kube.patch(R.unit, stock.metadata.namespace, stock.metadata.name!, ops, 'json');
  } catch (err) {
    const code = statusCodeOf(err);
    if (code === 404 || code === 422) return undefined;
    throw err;
  }
}
