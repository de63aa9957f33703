/**
 * /api/v1/gpu-storages: thin over src/service/storage.ts.
 */
import type { FastifyInstance } from 'fastify';
import { INSTANCE_NAMESPACE } from '../api/constants';
import type { ServiceContext } from '../service/context';
import { createStorage, deleteStorage, getStorage, listStorages, recoverStorage, storageRef, updateStorage } from '../service/storage';
import { namespaceName, optString } from '../service/validate';
import { sendData, sendFailure } from './envelope';

type Q = { Querystring: Record<string, unknown>; Params: { name: string } };

export function registerStorageRoutes(app: FastifyInstance, svc: ServiceContext): void {
  app.get<Q>('/api/v1/gpu-storages', async (req, reply) => {
    try {
      const ns = req.query.namespace ? namespaceName(req.query.namespace, INSTANCE_NAMESPACE) : undefined;
      return sendData(reply, 200, listStorages(svc, ns, optString(req.query.phase, 'phase')));
    } catch (err) {
      return sendFailure(reply, err, 'gpustorage_list_failed');
    }
  });
  app.post('/api/v1/gpu-storages', async (req, reply) => {
    try {
      return sendData(reply, 201, await createStorage(svc, req.body));
    } catch (err) {
      return sendFailure(reply, err, 'gpustorage_create_failed');
    }
  });
  app.get<Q>('/api/v1/gpu-storages/:name', async (req, reply) => {
    try {
      const ref = storageRef(req.query.namespace, req.params.name);
      return sendData(reply, 200, getStorage(svc, ref.namespace, ref.name));
    } catch (err) {
      return sendFailure(reply, err, 'gpustorage_get_failed');
    }
  });
  app.put<Q>('/api/v1/gpu-storages/:name', async (req, reply) => {
    try {
      const ref = storageRef(req.query.namespace, req.params.name);
      return sendData(reply, 200, await updateStorage(svc, ref.namespace, ref.name, req.body));
    } catch (err) {
      return sendFailure(reply, err, 'gpustorage_update_failed');
    }
  });
  app.post<Q>('/api/v1/gpu-storages/:name/recover', async (req, reply) => {
    try {
      const ref = storageRef(req.query.namespace, req.params.name);
      return sendData(reply, 200, await recoverStorage(svc, ref.namespace, ref.name));
    } catch (err) {
      return sendFailure(reply, err, 'gpustorage_recover_failed');
    }
  });
  app.delete<Q>('/api/v1/gpu-storages/:name', async (req, reply) => {
    try {
      const ref = storageRef(req.query.namespace, req.params.name);
      await deleteStorage(svc, ref.namespace, ref.name);
      return reply.status(204).send();
    } catch (err) {
      return sendFailure(reply, err, 'gpustorage_delete_failed');
    }
  });
}
