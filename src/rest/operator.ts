/**
 * /api/v1/operator: stock seeding (POST stock-units: 202 accepted, 200 replay) and operation
 * status (GET jobs/{operationID}), thin over src/service/operations.ts. GET stock-units lists the
 * stock (an addition to the contract's table, read-only).
 */
import type { FastifyInstance } from 'fastify';
import type { ServiceContext } from '../service/context';
import { getOperation, seedStock } from '../service/operations';
import { listStockUnits } from '../service/units';
import { optString } from '../service/validate';
import { sendData, sendFailure } from './envelope';

export function registerOperatorRoutes(app: FastifyInstance, svc: ServiceContext): void {
  app.post('/api/v1/operator/stock-units', async (req, reply) => {
    try {
      const { operation, replay } = await seedStock(svc, req.body);
      return sendData(reply, replay ? 200 : 202, operation);
    } catch (err) {
      return sendFailure(reply, err, 'stock_seed_failed');
    }
  });
  app.get<{ Querystring: Record<string, unknown> }>('/api/v1/operator/stock-units', async (req, reply) => {
    try {
      return sendData(reply, 200, listStockUnits(svc, optString(req.query.specName, 'specName')));
    } catch (err) {
      return sendFailure(reply, err, 'stock_list_failed');
    }
  });
  app.get<{ Params: { operationID: string } }>('/api/v1/operator/jobs/:operationID', async (req, reply) => {
    try {
      return sendData(reply, 200, await getOperation(svc, req.params.operationID));
    } catch (err) {
      return sendFailure(reply, err, 'job_get_failed');
    }
  });
}
