/**
 * The first slice end to end against the local cluster: createStorage over GraphQL, then a
 * storageChanged subscription over graphql-ws shows Pending → Running → Succeeded and Ready; a
 * failing image ends Failed with the pod's reason; kubectl shows the columns and one owned Job.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { CreateStorageDocument, StorageChangedDocument, type StorageChangedSubscription } from '../graphql/generated/graphql';
import { collectSubscription, gql, wsClient, type GraphQLAnswer } from '../support/http';
import { kubectl, uniq } from '../support/env';

const NS = 'runtime-instance';
// example.invalid/slow: the simulated node runs it 8 s (hack/cluster/kwok-stages.yaml), well past the
// hold on the Running write (RUNNING_REPORT_DELAY_MS), so Running is seen however loaded the run.
const seed = { fromImage: 'example.invalid/slow-seed:1.36', command: ['sh', '-c'], args: ['mkdir -p /workspace/model && echo seeded > /workspace/model/README.txt'] };

describe('storage first slice', () => {
  const client = wsClient();
  afterAll(() => client.dispose());

  it('createStorage then storageChanged shows Pending → Running → Succeeded and phase Ready', async () => {
    const name = uniq('model-cache');
    const created = await gql(CreateStorageDocument, { input: { name, namespace: NS, size: '20Gi', prepare: seed } });
    expect(created.errors).toBeUndefined();
    expect(created.data?.createStorage.__typename).toBe('CreateStorageSuccess');

    const events = await collectSubscription(client, StorageChangedDocument, { namespace: NS, name }, (rs: GraphQLAnswer<StorageChangedSubscription>[]) =>
      rs.some((r) => r.data?.storageChanged.storage.phase === 'Ready'),
    );
    const phases = events.map((e) => e.data!.storageChanged.storage.prepareStatus.phase);
    const distinct = phases.filter((p, i) => p !== phases[i - 1]);
    expect(distinct).toEqual(['Pending', 'Running', 'Succeeded']);
    expect(events[0]!.data!.storageChanged.type).toBe('ADDED');
    const last = events.at(-1)!.data!.storageChanged.storage;
    expect(last.phase).toBe('Ready');
    expect(last.capacity).toBe('20Gi');
    expect(last.prepareStatus.jobName).toMatch(new RegExp(`^storage-prepare-${name}-[0-9a-f]{12}$`));

    const jobs = JSON.parse(await kubectl('get', 'jobs', '-n', NS, '-l', `runtime.lokiwager.io/storage=${name}`, '-o', 'json')) as {
      items: { metadata: { name: string; ownerReferences: { kind: string; name: string; controller: boolean }[] } }[];
    };
    expect(jobs.items).toHaveLength(1);
    expect(jobs.items[0]!.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'GPUStorage', name, controller: true })]);

    const table = await kubectl('get', 'gpustorages', '-n', NS, name);
    expect(table.split('\n')[0]).toMatch(/NAME\s+SIZE\s+CAPACITY\s+PHASE\s+PREPARE\s+AGE/);
    expect(table.split('\n')[1]).toMatch(new RegExp(`${name}\\s+20Gi\\s+20Gi\\s+Ready\\s+Succeeded`));
  });

  it('an example.invalid/fail image ends Failed with the pod\'s reason in the message', async () => {
    const name = uniq('broken');
    const created = await gql(CreateStorageDocument, { input: { name, namespace: NS, size: '1Gi', prepare: { fromImage: 'example.invalid/fail:1', args: ['seed'] } } });
    expect(created.data?.createStorage.__typename).toBe('CreateStorageSuccess');
    const events = await collectSubscription(client, StorageChangedDocument, { namespace: NS, name }, (rs: GraphQLAnswer<StorageChangedSubscription>[]) =>
      rs.some((r) => r.data?.storageChanged.storage.phase === 'Failed'),
    );
    const s = events.at(-1)!.data!.storageChanged.storage;
    expect(s.phase).toBe('Failed');
    expect(s.reason).toBe('StoragePrepareFailed');
    expect(s.prepareStatus.phase).toBe('Failed');
    expect(s.prepareStatus.recoveryPhase).toBe('Required');
    expect(s.message).toContain('BackoffLimitExceeded');
    expect(s.message).toContain('exited with code 1');
    expect(s.message).toContain('simulated failure: example.invalid/fail:1');
    expect(s.prepareStatus.lastFailure).toMatchObject({ reason: 'BackoffLimitExceeded', exitCode: 1 });
  });
});
