/**
 * deploy/ is accepted by a real API server: `kubectl apply -k deploy/` with --dry-run=server and
 * then for real; every object it declares exists afterwards; the Deployment's pod template meets
 * the "restricted" Pod Security Standard its namespace enforces (no admission warning); and the
 * ServiceAccount holds the rights the service uses and not the ones it does not.
 *
 * The Deployment's pods do not really run here (the nodes are kwok's); that is not the point.
 * Afterwards the service's objects are removed; the CRDs, the user ClusterRoles and the namespaces
 * stay, as the rest of the suite uses them.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { kubectl, testEnv } from '../support/env';

const execFileAsync = promisify(execFile);
const deployDir = fileURLToPath(new URL('../../deploy/', import.meta.url));
const SA = 'system:serviceaccount:gpu-runtime-system:gpu-runtime';

/** kubectl as admin, with stderr too (admission warnings arrive there). */
async function kubectlOut(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const env = testEnv();
  return execFileAsync(env.kubectl, [`--kubeconfig=${env.adminKubeconfig}`, ...args], { maxBuffer: 16 << 20 });
}

async function can(verb: string, resource: string, ns?: string, subresource?: string): Promise<boolean> {
  const out = await kubectlOut('auth', 'can-i', verb, resource, `--as=${SA}`, ...(ns ? ['-n', ns] : []), ...(subresource ? [`--subresource=${subresource}`] : [])).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  return out.stdout.trim() === 'yes';
}

describe('deploy/ (kustomize base)', () => {
  afterAll(async () => {
    // Only the workload goes: the ServiceAccount and its RBAC are the identity the suite's own
    // service runs under (test/support/global-setup.ts applied them before this file).
    await kubectl('delete', '--ignore-not-found', '--wait=false', '-n', 'gpu-runtime-system', 'deployment/gpu-runtime', 'service/gpu-runtime', 'service/gpu-runtime-metrics', 'pdb/gpu-runtime');
  });

  it('is accepted by the API server with --dry-run=server, then applied for real', async () => {
    // A server-side dry run cannot create the namespace it would put objects in (kubectl's
    // known limitation: "namespaces ... not found"), so the namespaces go first, for real.
    await kubectlOut('apply', '-f', `${deployDir}namespaces.yaml`);
    const dry = await kubectlOut('apply', '-k', deployDir, '--dry-run=server');
    expect(dry.stdout).toContain('deployment.apps/gpu-runtime created (server dry run)');
    expect(dry.stderr).not.toMatch(/PodSecurity|[Ee]rror/);
    const real = await kubectlOut('apply', '-k', deployDir);
    expect(real.stderr, real.stderr).not.toMatch(/would violate PodSecurity|[Ee]rror/);
    for (const line of real.stdout.trim().split('\n')) expect(line).toMatch(/ (created|configured|unchanged)$/);

    // Everything the base declares is there.
    const declared = (await kubectl('kustomize', deployDir)).split('\n---\n').map((doc) => {
      const kind = /^kind: (\S+)$/m.exec(doc)?.[1];
      const name = /^metadata:\n(?: {2}.*\n)*? {2}name: (\S+)$/m.exec(doc)?.[1];
      return `${kind}/${name}`;
    });
    const live = JSON.parse(await kubectl('get', '-k', deployDir, '-o', 'json')) as { items: { kind: string; metadata: { name: string } }[] };
    const got = live.items.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(got.sort()).toEqual(declared.sort());
    for (const kind of ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'Deployment', 'Service', 'PodDisruptionBudget', 'CustomResourceDefinition']) {
      expect(got.some((g) => g.startsWith(`${kind}/`)), kind).toBe(true);
    }
    const dep = live.items.find((o) => o.kind === 'Deployment') as unknown as {
      spec: { replicas: number; template: { spec: { serviceAccountName: string; containers: { env: { name: string; valueFrom?: unknown }[]; securityContext: Record<string, unknown> }[] } } };
    };
    expect(dep.spec.replicas).toBe(2);
    expect(dep.spec.template.spec.serviceAccountName).toBe('gpu-runtime');
    const c = dep.spec.template.spec.containers[0]!;
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    expect(c.env.find((e) => e.name === 'POD_NAMESPACE')?.valueFrom).toEqual({ fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } });
    // Applying again changes nothing (kubectl's client-side apply always sends the PDB's
    // selector, a field with patch strategy "replace", and so reports it "configured": a no-op).
    const again = await kubectlOut('apply', '-k', deployDir);
    for (const line of again.stdout.trim().split('\n')) expect(line).toMatch(/ unchanged$|^poddisruptionbudget.policy\/gpu-runtime configured$/);
    const generation = JSON.parse(await kubectl('get', 'pdb', 'gpu-runtime', '-n', 'gpu-runtime-system', '-o', 'json')).metadata.generation;
    expect(generation).toBe(1);
  });

  it("gives the service's ServiceAccount what its code uses, and not more", async () => {
    const yes: [string, string, string?, string?][] = [
      ['watch', 'gpustorages.runtime.lokiwager.io'],
      ['update', 'gpustorages.runtime.lokiwager.io', 'team-x', 'status'],
      ['update', 'gpuoperations.runtime.lokiwager.io', 'runtime-stock', 'status'],
      ['update', 'gpuunits.runtime.lokiwager.io', 'team-x'],
      ['create', 'jobs.batch', 'team-x'],
      ['patch', 'persistentvolumeclaims', 'team-x'],
      ['delete', 'deployments.apps', 'team-x'],
      ['create', 'events', 'team-x'],
      ['create', 'tokenreviews.authentication.k8s.io'],
      ['create', 'subjectaccessreviews.authorization.k8s.io'],
      ['get', 'namespaces'],
      ['update', 'leases.coordination.k8s.io', 'gpu-runtime-system'],
      ['delete', 'leases.coordination.k8s.io', 'runtime-stock'],
      ['get', 'customresourcedefinitions.apiextensions.k8s.io/gpustorages.runtime.lokiwager.io'],
      ['get', 'clusterroles.rbac.authorization.k8s.io/gpu-runtime-tenant'],
    ];
    const no: [string, string, string?][] = [
      ['create', 'namespaces'],
      ['delete', 'persistentvolumeclaims', 'team-x'],
      ['get', 'secrets', 'team-x'],
      ['update', 'gpuoperations.runtime.lokiwager.io', 'runtime-stock'],
      ['create', 'leases.coordination.k8s.io', 'team-x'],
      ['create', 'customresourcedefinitions.apiextensions.k8s.io'],
      ['get', 'customresourcedefinitions.apiextensions.k8s.io/other.example.com'],
      ['create', 'clusterroles.rbac.authorization.k8s.io'],
      ['create', 'rolebindings.rbac.authorization.k8s.io', 'team-x'],
      ['delete', 'pods', 'team-x'],
    ];
    for (const [verb, res, ns, sub] of yes) expect(await can(verb, res, ns, sub), `${SA} may ${verb} ${res}${sub ? `/${sub}` : ''}${ns ? ` in ${ns}` : ''}`).toBe(true);
    for (const [verb, res, ns] of no) expect(await can(verb, res, ns), `${SA} may not ${verb} ${res}${ns ? ` in ${ns}` : ''}`).toBe(false);
  });
});
