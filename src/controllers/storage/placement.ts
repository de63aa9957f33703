/**
 * Where a clone's copy Job may run. Pure functions.
 *
 * Rule: ../shared/spec/contract.md ("Owned objects and naming"): "A clone's copy Job runs where the
 * source volume can be attached: a ReadWriteOnce source already in use by a pod (its accessor, a
 * read-only unit) pins the copy to that pod's node … the status says which." The copy pod mounts
 * the source PVC; if the source's accessor (or a read-only unit) holds that ReadWriteOnce volume on
 * another node, the copy pod would never start (Multi-Attach). So the copy Job gets required node
 * affinity to the node of the pod that uses the source. A source whose PV itself has node affinity
 * (a local volume) needs nothing here: the scheduler's volume binding already places any pod that
 * mounts it on that node.
 */
import type { V1Affinity, V1Pod } from '@kubernetes/client-node';
import { GROUP } from '../../api/constants';

/** Annotation on a copy Job naming where it was pinned and why (the status repeats it). */
export const COPY_PLACEMENT_ANNOTATION = `${GROUP}/copy-placement`;

/** A pod that holds a volume on a node. */
export interface VolumeConsumer {
  pod: string;
  node: string;
}

/** A copy Job's placement: pinned to `node`, where `pod` uses source storage `source`. */
export interface CopyPlacement {
  source: string;
  node: string;
  pod: string;
}

/**
 * Pods that hold PVC `claim` on a node: scheduled (spec.nodeName), not being deleted, not finished
 * (a Succeeded or Failed pod no longer holds the attachment). Sorted by pod name, so the choice
 * among several is stable from one reconcile to the next.
 */
export function volumeConsumers(pods: V1Pod[], claim: string): VolumeConsumer[] {
  return pods
    .filter(
      (p) =>
        !!p.spec?.nodeName &&
        !p.metadata?.deletionTimestamp &&
        p.status?.phase !== 'Succeeded' &&
        p.status?.phase !== 'Failed' &&
        (p.spec.volumes ?? []).some((v) => v.persistentVolumeClaim?.claimName === claim),
    )
    .map((p) => ({ pod: p.metadata!.name!, node: p.spec!.nodeName! }))
    .sort((a, b) => a.pod.localeCompare(b.pod));
}

/**
 * The copy Job's placement (contract: a source "already in use by a pod … pins the copy to that
 * pod's node"): the node of the first consumer of the source's PVC, or undefined when nothing holds
 * it (the copy may run anywhere the volume can attach).
 */
export function copyPlacement(source: string, consumers: VolumeConsumer[]): CopyPlacement | undefined {
  const c = consumers[0];
  return c ? { source, node: c.node, pod: c.pod } : undefined;
}

/** Required node affinity to the placement's node (`kubernetes.io/hostname`). */
export function placementAffinity(p: CopyPlacement): V1Affinity {
  return {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [p.node] }] }],
      },
    },
  };
}

/**
 * What the status says about the placement (contract: "the status says which"), e.g. `pinned to
 * node n1, where source storage src is in use by pod storage-accessor-src-abc (ReadWriteOnce)`.
 */
export function placementNote(p: CopyPlacement): string {
  return `pinned to node ${p.node}, where source storage ${p.source} is in use by pod ${p.pod} (ReadWriteOnce)`;
}
