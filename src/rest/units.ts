/**
 * /api/v1/gpu-units: thin over src/service/units.ts. `namespace` is a query parameter on item
 * routes (default runtime-instance); the list shows active units only.
 */
import type { FastifyInstance } from 'fastify';
import { INSTANCE_NAMESPACE } from '../api/constants';
import type { ServiceContext } from '../service/context';
import { createUnit, deleteUnit, getUnit, listUnits, unitRef, updateUnit } from '../service/units';
import { namespaceName } from '../service/validate';
import { sendData, sendFailure } from './envelope';

type Q = { Querystring: Record<string, unknown>; Params: { name: string } };

export function registerUnitRoutes(app: FastifyInstance, svc: ServiceContext): void {
  app.get<Q>('/api/v1/gpu-units', async (req, reply) => {
    try {
      const ns = req.query.namespace ? namespaceName(req.query.namespace, INSTANCE_NAMESPACE) : undefined;
      return sendData(reply, 200, listUnits(svc, ns));
    } catch (err) {
      return sendFailure(reply, err, 'gpuunit_list_failed');
    }
  });
  app.post('/api/v1/gpu-units', async (req, reply) => {
    try {
      const { unit, replay } = await createUnit(svc, req.body);
      return sendData(reply, replay ? 200 : 201, unit);
    } catch (err) {
      return sendFailure(reply, err, 'gpuunit_create_failed');
    }
  });
  app.get<Q>('/api/v1/gpu-units/:name', async (req, reply) => {
    try {
      const ref = unitRef(req.query.namespace, req.params.name);
      return sendData(reply, 200, getUnit(svc, ref.namespace, ref.name));
    } catch (err) {
      return sendFailure(reply, err, 'gpuunit_get_failed');
    }
  });
  app.put<Q>('/api/v1/gpu-units/:name', async (req, reply) => {
    try {
      const ref = unitRef(req.query.namespace, req.params.name);
      return sendData(reply, 200, await updateUnit(svc, ref.namespace, ref.name, req.body));
    } catch (err) {
      return sendFailure(reply, err, 'gpuunit_update_failed');
    }
  });
  app.delete<Q>('/api/v1/gpu-units/:name', async (req, reply) => {
    try {
      const ref = unitRef(req.query.namespace, req.params.name);
      await deleteUnit(svc, ref.namespace, ref.name);
      return reply.status(204).send();
    } catch (err) {
      return sendFailure(reply, err, 'gpuunit_delete_failed');
    }
  });
}
