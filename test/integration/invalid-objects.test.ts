/**
 * Invalid GPUStorage objects applied with kubectl, bypassing the API (issue 12): the CRD refuses
 * what it can (CEL rules), and the controller marks the rest `Failed` with reason
 * `StorageInvalidSpec` (contract reasons) and a message naming the field, writes no children and
 * does not requeue in a loop (the audit log over a window after the verdict shows nothing).
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { adminKube, auditBarrier, auditWrites, eventually, testEnv, uniq } from '../support/env';
import { R } from '../../src/kube/resources';

const run = promisify(execFile);
const OPERATOR = testEnv().operatorUser;

async function apply(obj: object): Promise<{ ok: boolean; out: string }> {
  const env = testEnv();
  return await new Promise((resolve) => {
    const child = execFile(env.kubectl, [`--kubeconfig=${env.adminKubeconfig}`, 'apply', '-f', '-'], (err, stdout, stderr) => resolve({ ok: !err, out: stdout + stderr }));
    child.stdin!.end(JSON.stringify(obj));
  });
}

const storage = (namespace: string, name: string, spec: object) => ({ apiVersion: 'runtime.lokiwager.io/v1alpha1', kind: 'GPUStorage', metadata: { name, namespace }, spec });

describe('invalid objects applied with kubectl', () => {
  it('the CRD refuses both sources and command on a clone, naming the rule', async () => {
    const both = await apply(storage('runtime-instance', uniq('both'), { size: '1Gi', prepare: { fromImage: 'busybox:1.36', fromStorageName: 'x', args: ['true'] } }));
    expect(both.ok).toBe(false);
    expect(both.out).toContain('spec.prepare needs exactly one of fromImage and fromStorageName');
    const cmd = await apply(storage('runtime-instance', uniq('cmd'), { size: '1Gi', prepare: { fromStorageName: 'x', command: ['sh'] } }));
    expect(cmd.ok).toBe(false);
    expect(cmd.out).toContain('spec.prepare.command and args are only allowed with fromImage');
  });

  it('what the CRD lets through is Failed with StorageInvalidSpec naming the field; no children, no requeue loop', async () => {
    const cases = [
      { ns: 'runtime-instance', name: uniq('milli'), spec: { size: '100m' }, field: 'spec.size' },
      { ns: 'runtime-stock', name: uniq('in-stock'), spec: { size: '1Gi' }, field: 'metadata.namespace' },
    ];
    const since = Date.now();
    for (const c of cases) {
      const r = await apply(storage(c.ns, c.name, c.spec));
      expect(r.ok, r.out).toBe(true);
    }
    const kube = adminKube();
    for (const c of cases) {
      const s = await eventually(async () => {
        const got = await kube.get(R.storage, c.ns, c.name);
        return got.status?.phase === 'Failed' ? got : undefined;
      }, `${c.name} Failed`);
      const ready = s.status!.conditions!.find((x) => x.type === 'Ready')!;
      expect(ready).toMatchObject({ status: 'False', reason: 'StorageInvalidSpec' });
      expect(ready.message.startsWith(`${c.field}: `), ready.message).toBe(true);
      expect(s.status!.observedGeneration).toBe(s.metadata.generation);
    }
    // Let any further reconcile show itself, then count: exactly one status write and one Event each, no child.
    await new Promise((r) => setTimeout(r, 4000));
    await auditBarrier();
    for (const c of cases) {
      const writes = auditWrites(OPERATOR, since).filter((w) => w.objectRef?.namespace === c.ns && (w.objectRef?.name === c.name || w.objectRef?.name?.startsWith(`${c.name}.`) || w.uri.includes(c.name)));
      expect(writes.map((w) => `${w.verb} ${w.objectRef?.resource}${w.objectRef?.subresource ? `/${w.objectRef.subresource}` : ''}`).sort(), c.name).toEqual(['create events', 'update gpustorages/status']);
      expect((await kube.list(R.pvc, c.ns)).items.filter((p) => p.metadata?.name === c.name)).toEqual([]);
      expect((await kube.list(R.job, c.ns)).items.filter((j) => j.metadata?.name?.includes(c.name))).toEqual([]);
    }
    for (const c of cases) await run(testEnv().kubectl, [`--kubeconfig=${testEnv().adminKubeconfig}`, 'delete', 'gpustorage', c.name, '-n', c.ns]);
  });
});
