/**
 * The ClusterRoles a platform team binds (deploy/rbac/user-roles.yaml: gpu-runtime-tenant,
 * gpu-runtime-viewer, gpu-runtime-stock-operator), and the development convenience of the
 * embedded local cluster: `npm start` without KUBECONFIG binds the anonymous user (group
 * system:unauthenticated) to the tenant role in runtime-instance and to the stock operator role in
 * runtime-stock, and nothing else, so the design text's curl walkthrough and GraphiQL work
 * without a token. Against any other cluster nothing is granted.
 */
import { readFileSync } from 'node:fs';
import { loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';
import { FIELD_MANAGER, INSTANCE_NAMESPACE, STOCK_NAMESPACE } from '../api/constants';
import { isAlreadyExists, isNotFound, statusCodeOf } from '../kube/errors';
import { R, type Kube } from '../kube/resources';
import { logger } from '../logger';
import { ANONYMOUS } from './identity';
import { projectPath } from '../paths';

const rolesFile = projectPath('deploy/rbac/user-roles.yaml');

export const TENANT_ROLE = 'gpu-runtime-tenant';
export const VIEWER_ROLE = 'gpu-runtime-viewer';
export const STOCK_OPERATOR_ROLE = 'gpu-runtime-stock-operator';

/** The ClusterRole manifests of deploy/rbac/user-roles.yaml. */
export function userRoleManifests(): KubernetesObject[] {
  return loadAllYaml(readFileSync(rolesFile, 'utf8')) as KubernetesObject[];
}

/**
 * Installs the user ClusterRoles when missing (they grant nothing until bound); a 403 is logged,
 * not fatal (an administrator installs them with deploy/).
 */
export async function ensureUserRoles(kube: Kube): Promise<void> {
  for (const role of userRoleManifests()) {
    const name = role.metadata!.name!;
    try {
      await kube.get(R.clusterRole, undefined, name);
      continue;
    } catch (err) {
      if (statusCodeOf(err) === 403) return void logger.warn({ role: name }, 'not permitted to read ClusterRoles; assuming deploy/rbac/user-roles.yaml is installed');
      if (!isNotFound(err)) throw err;
    }
    try {
      await kube.create(R.clusterRole, role);
      logger.info({ role: name }, 'installed ClusterRole');
    } catch (err) {
      if (isAlreadyExists(err)) continue;
      if (statusCodeOf(err) === 403) return void logger.warn({ role: name }, 'missing and not permitted to create it; apply deploy/rbac/user-roles.yaml');
      throw err;
    }
  }
}

/** A RoleBinding of `role` to the anonymous group in `namespace` (a development grant). */
export function anonymousBinding(namespace: string, role: string): KubernetesObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: `gpu-runtime-dev-anonymous-${role.replace(/^gpu-runtime-/, '')}`, namespace, labels: { 'app.kubernetes.io/managed-by': FIELD_MANAGER } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: ANONYMOUS.groups[0] }],
  } as KubernetesObject;
}

/**
 * The embedded local cluster's development grant (see the module comment), applied with
 * server-side apply. @returns one line per binding, printed at start.
 * @throws KubeHttpError when the bindings cannot be written.
 */
export async function grantDevelopmentAccess(kube: Kube, namespaces: { tenant: string[]; stock: string[] } = { tenant: [INSTANCE_NAMESPACE], stock: [STOCK_NAMESPACE] }): Promise<string[]> {
  await ensureUserRoles(kube);
  const lines: string[] = [];
  for (const [list, role] of [
    [namespaces.tenant, TENANT_ROLE],
    [namespaces.stock, STOCK_OPERATOR_ROLE],
  ] as const) {
    for (const ns of list) {
      await kube.apply(R.roleBinding, anonymousBinding(ns, role));
      lines.push(`${ANONYMOUS.groups[0]} → ClusterRole ${role} in namespace ${ns}`);
    }
  }
  return lines;
}
