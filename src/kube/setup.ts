/**
 * Cluster prerequisites of the service: the CRDs in crds/, the namespaces runtime-stock and
 * runtime-instance, and the service's own namespace. Created only when missing, and only where the identity may (a 403 is logged,
 * not fatal: an administrator may have installed them another way).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';
import { INSTANCE_NAMESPACE, STOCK_NAMESPACE } from '../api/constants';
import { isAlreadyExists, isNotFound, statusCodeOf } from './errors';
import { R, type Kube } from './resources';
import { logger } from '../logger';
import { projectPath } from '../paths';

const crdDir = projectPath('crds/');

/** The CRD manifests of crds/. */
export function crdManifests(): KubernetesObject[] {
  return readdirSync(crdDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => loadAllYaml(readFileSync(crdDir + f, 'utf8')) as KubernetesObject[]);
}

async function ensure(kube: Kube, r: typeof R.crd | typeof R.namespace, obj: KubernetesObject): Promise<void> {
  const name = obj.metadata!.name!;
  try {
    await kube.get(r, undefined, name);
    return;
  } catch (err) {
    if (statusCodeOf(err) === 403) {
      logger.warn({ kind: r.kind, name }, 'not permitted to read it; assuming a cluster administrator installed it');
      return;
    }
    if (!isNotFound(err)) throw err;
  }
  try {
    await kube.create(r, obj);
    logger.info({ kind: r.kind, name }, 'installed');
  } catch (err) {
    if (isAlreadyExists(err)) return;
    if (statusCodeOf(err) === 403) {
      logger.warn({ kind: r.kind, name }, 'missing and not permitted to create it; ask a cluster administrator to install it');
      return;
    }
    throw err;
  }
}

/**
 * Installs missing CRDs and namespaces (the two of the contract, and `extraNamespaces`: the
 * service's own, for its Lease). @throws on API errors other than 403/409.
 */
export async function ensureClusterPrerequisites(kube: Kube, extraNamespaces: string[] = []): Promise<void> {
  for (const crd of crdManifests()) await ensure(kube, R.crd, crd);
  for (const ns of new Set([STOCK_NAMESPACE, INSTANCE_NAMESPACE, ...extraNamespaces])) {
    await ensure(kube, R.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  }
}
