/**
 * /api/v1/gpu-units: thin over src/service/units.ts. `namespace` is a query parameter on item
 * routes (default runtime-instance); the list shows active units only.
 */
import type { FastifyInstance } from 'fastify';
import { INSTANCE_NAMESPACE } from '../api/constants';
import { createUnit, deleteUnit, getUnit, listUnits, updateUnit } from '../service/units';
import { unitRef } from '../service/unit-validate';
import { namespaceName } from '../service/validate';
import { handle, listAnswer } from './envelope';
import { REST_LIST_BOUNDS, restPageArgs } from '../service/paging';

type Q = { Querystring: Record<string, unknown>; Params: { name: string } };

/** The /api/v1/gpu-units routes (create, list, get, update, delete), contract "REST routes". */
export function registerUnitRoutes(app: FastifyInstance): void {
  app.get<Q>(
    '/api/v1/gpu-units',
    handle<Q>('gpuunit_list_failed', async (req) => {
      const ns = req.query.namespace ? namespaceName(req.query.namespace, INSTANCE_NAMESPACE) : undefined;
      return listAnswer(await listUnits(req.ctx, ns, restPageArgs(req.query), REST_LIST_BOUNDS, { after: 'continue', before: 'continue' }));
    }),
  );
  app.post(
    '/api/v1/gpu-units',
    handle('gpuunit_create_failed', async (req) => {
      const { unit, replay } = await createUnit(req.ctx, req.body);
      return [replay ? 200 : 201, unit];
    }),
  );
  app.get<Q>(
    '/api/v1/gpu-units/:name',
    handle<Q>('gpuunit_get_failed', async (req) => {
      const ref = unitRef(req.query.namespace, req.params.name);
      return [200, await getUnit(req.ctx, ref.namespace, ref.name)];
    }),
  );
  app.put<Q>(
    '/api/v1/gpu-units/:name',
    handle<Q>('gpuunit_update_failed', async (req) => {
      const ref = unitRef(req.query.namespace, req.params.name);
      return [200, await updateUnit(req.ctx, ref.namespace, ref.name, req.body)];
    }),
  );
  app.delete<Q>(
    '/api/v1/gpu-units/:name',
    handle<Q>('gpuunit_delete_failed', async (req) => {
      const ref = unitRef(req.query.namespace, req.params.name);
      await deleteUnit(req.ctx, ref.namespace, ref.name);
      return [204, undefined];
    }),
  );
}
