/**
 * /api/v1/gpu-storages: thin over src/service/storage.ts. `namespace` is a query parameter on item
 * routes (default runtime-instance). The list takes `limit` and `continue` as the Kubernetes API
 * does (./envelope.ts listAnswer).
 */
import type { FastifyInstance } from 'fastify';
import { INSTANCE_NAMESPACE } from '../api/constants';
import { createStorage, deleteStorage, getStorage, listStorages, recoverStorage, storageRef, updateStorage } from '../service/storage';
import { namespaceName, optString } from '../service/validate';
import { listStorageFiles, streamStorageFile } from '../service/storage-files';
import { handle, listAnswer, sendData, sendFailure } from './envelope';
import { REST_LIST_BOUNDS, restPageArgs } from '../service/paging';

type Q = { Querystring: Record<string, unknown>; Params: { name: string } };

/** The /api/v1/gpu-storages routes (create (a clone is a create from another storage), list, get, update, recover, delete, files), contract "REST routes". */
export function registerStorageRoutes(app: FastifyInstance): void {
  app.get<Q>(
    '/api/v1/gpu-storages',
    handle<Q>('gpustorage_list_failed', async (req) => {
      const ns = req.query.namespace ? namespaceName(req.query.namespace, INSTANCE_NAMESPACE) : undefined;
      const phase = optString(req.query.phase, 'phase');
      return listAnswer(await listStorages(req.ctx, { namespace: ns, phase }, restPageArgs(req.query), REST_LIST_BOUNDS, { after: 'continue', before: 'continue' }));
    }),
  );
  app.post('/api/v1/gpu-storages', handle('gpustorage_create_failed', async (req) => [201, await createStorage(req.ctx, req.body)]));
  app.get<Q>(
    '/api/v1/gpu-storages/:name',
    handle<Q>('gpustorage_get_failed', async (req) => {
      const ref = storageRef(req.query.namespace, req.params.name);
      return [200, await getStorage(req.ctx, ref.namespace, ref.name)];
    }),
  );
  app.put<Q>(
    '/api/v1/gpu-storages/:name',
    handle<Q>('gpustorage_update_failed', async (req) => {
      const ref = storageRef(req.query.namespace, req.params.name);
      return [200, await updateStorage(req.ctx, ref.namespace, ref.name, req.body)];
    }),
  );
  app.post<Q>(
    '/api/v1/gpu-storages/:name/recover',
    handle<Q>('gpustorage_recover_failed', async (req) => {
      const ref = storageRef(req.query.namespace, req.params.name);
      return [200, await recoverStorage(req.ctx, ref.namespace, ref.name)];
    }),
  );
  // The volume's files through the accessor over the API server's service proxy
  // (src/service/storage-files.ts): a file streams as itself (Range passed through), a directory
  // (`/files`, `/files/`, `/files/model/`) answers its listing in the envelope.
  app.get<Q>(
    '/api/v1/gpu-storages/:name/files',
    handle<Q>('gpustorage_files_failed', async (req) => {
      const ref = storageRef(req.query.namespace, req.params.name);
      return [200, await listStorageFiles(req.ctx, ref.namespace, ref.name, '/')];
    }),
  );
  app.get<{ Querystring: Record<string, unknown>; Params: { name: string; '*': string } }>('/api/v1/gpu-storages/:name/files/*', async (req, reply) => {
    try {
      const ref = storageRef(req.query.namespace, req.params.name);
      const range = typeof req.headers.range === 'string' ? req.headers.range : undefined;
      const out = await streamStorageFile(req.ctx, ref.namespace, ref.name, `/${req.params['*'] ?? ''}`, range);
      if ('directory' in out) return sendData(reply, 200, out.directory);
      reply.status(out.status).headers({ ...out.headers, 'x-content-type-options': 'nosniff', 'content-security-policy': "default-src 'none'; sandbox" });
      return reply.send(out.body);
    } catch (err) {
      return sendFailure(reply, err, 'gpustorage_files_failed');
    }
  });
  app.delete<Q>(
    '/api/v1/gpu-storages/:name',
    handle<Q>('gpustorage_delete_failed', async (req) => {
      const ref = storageRef(req.query.namespace, req.params.name);
      await deleteStorage(req.ctx, ref.namespace, ref.name);
      return [204, undefined];
    }),
  );
}
