/**
 * Mount reservations: the contract's exclusivity rule ("one storage may be mounted by at most one
 * active unit") and "a storage still mounted cannot be deleted", made atomic with the API
 * server's optimistic concurrency instead of a check against a cache that may lag.
 *
 * Before a unit is created with, or updated to, a mount, the storage is annotated
 * `runtime.lokiwager.io/mounted-by: <unit>@<epoch ms>` by a merge patch that carries the
 * resourceVersion just read: of two requests racing for one storage only one write succeeds, the
 * other gets 409, reads again and sees the reservation. A storage delete carries the
 * resourceVersion too, so a reservation made meanwhile makes it fail and be checked again.
 *
 * A reservation is alive while its unit exists and mounts the storage, or for
 * {@link MOUNT_RESERVATION_TTL_MS} after it was made (a create still in flight). A stale one
 * (unit deleted by hand, a crashed request) is simply overwritten.
 */
import { ANNOTATIONS } from '../api/constants';
import type { GPUStorage } from '../api/types';
import { isNotFound, statusCodeOf } from '../kube/errors';
import { R } from '../kube/resources';
import { logger } from '../logger';
import { retryOnConflict, type ServiceContext } from './context';
import { conflict, invalid } from './errors';

export const MOUNT_RESERVATION_TTL_MS = 60_000;

/** A parsed reservation annotation. */
export interface MountReservation {
  unit: string;
  /** Epoch ms when it was made. */
  at: number;
  raw: string;
}

/** The storage's reservation, if it carries a well-formed one. */
export function reservationOf(storage: GPUStorage): MountReservation | undefined {
  const raw = storage.metadata.annotations?.[ANNOTATIONS.mountedBy];
  const m = raw ? /^(.+)@(\d+)$/.exec(raw) : null;
  return m ? { unit: m[1]!, at: Number(m[2]), raw: raw! } : undefined;
}

/** Whether `r` still holds `storage` (see the module comment). */
export function reservationAlive(ctx: ServiceContext, namespace: string, storage: string, r: MountReservation, nowMs = Date.now()): boolean {
  const u = ctx.cache.units.get(namespace, r.unit);
  if (u && !u.metadata.deletionTimestamp && u.spec.storageMounts?.some((m) => m.name === storage)) return true;
  return nowMs - r.at < MOUNT_RESERVATION_TTL_MS;
}

/**
 * Reserves each storage of `mounts` for `unit`, all or none.
 * @throws ValidationError naming `storageMounts[i].name` when a storage does not exist;
 *   ConflictError when another unit holds one.
 */
export async function reserveMounts(ctx: ServiceContext, namespace: string, unit: string, mounts: { name: string }[] | undefined): Promise<void> {
  const done: string[] = [];
  try {
    for (const [i, m] of (mounts ?? []).entries()) {
      await retryOnConflict(async () => {
        let s: GPUStorage;
        try {
          s = await ctx.kube.get(R.storage, namespace, m.name);
        } catch (err) {
          if (isNotFound(err)) throw invalid(`storageMounts[${i}].name`, `GPUStorage ${namespace}/${m.name} does not exist`);
          throw err;
        }
        if (s.metadata.deletionTimestamp) throw invalid(`storageMounts[${i}].name`, `GPUStorage ${namespace}/${m.name} is being deleted`);
        const r = reservationOf(s);
        if (r && r.unit !== unit && reservationAlive(ctx, namespace, m.name, r)) {
          throw conflict(`GPUStorage ${namespace}/${m.name} is already mounted by unit ${r.unit}; a storage is mounted by at most one active unit`);
        }
        const patch = { metadata: { resourceVersion: s.metadata.resourceVersion, annotations: { [ANNOTATIONS.mountedBy]: `${unit}@${Date.now()}` } } };
        try {
          await ctx.kube.patch(R.storage, namespace, m.name, patch, 'merge');
        } catch (err) {
          // Deleted between the read and the reservation (a DELETE racing this create).
          if (isNotFound(err)) throw invalid(`storageMounts[${i}].name`, `GPUStorage ${namespace}/${m.name} does not exist`);
          throw err;
        }
      });
      done.push(m.name);
    }
  } catch (err) {
    await releaseMounts(ctx, namespace, unit, done);
    throw err;
  }
}

/** Removes `unit`'s reservations of `names` (only where they are still its own). Never throws. */
export async function releaseMounts(ctx: ServiceContext, namespace: string, unit: string, names: string[]): Promise<void> {
  const path = `/metadata/annotations/${ANNOTATIONS.mountedBy.replaceAll('~', '~0').replaceAll('/', '~1')}`;
  for (const name of names) {
    try {
      const s = await ctx.kube.get(R.storage, namespace, name);
      const r = reservationOf(s);
      if (!r || r.unit !== unit) continue;
      // `test` makes the API server refuse (422) if another request re-reserved it meanwhile.
      await ctx.kube.patch(R.storage, namespace, name, [{ op: 'test', path, value: r.raw }, { op: 'remove', path }], 'json');
    } catch (err) {
      const code = statusCodeOf(err);
      if (code !== 404 && code !== 422) logger.warn({ storage: name, unit, err: err instanceof Error ? err.message : String(err) }, 'could not release a mount reservation; it expires by itself');
    }
  }
}
