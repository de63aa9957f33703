/**
 * /api/v1/operator: stock seeding (POST stock-units: 202 accepted, 200 replay) and operation
 * status (GET jobs/{operationID}), thin over src/service/operations.ts. GET stock-units lists the
 * stock (an addition to the contract's table, read-only).
 */
import type { FastifyInstance } from 'fastify';
import { getOperation, seedStock } from '../service/operations';
import { listStockUnits } from '../service/units';
import { optString } from '../service/validate';
import { handle, listAnswer } from './envelope';
import { REST_LIST_BOUNDS, restPageArgs } from '../service/paging';

type StockQ = { Querystring: Record<string, unknown> };
type JobQ = { Params: { operationID: string } };

/** The operator routes of /api/v1/operator (stock units: seed, list; seeding jobs by operationID), contract "REST routes". */
export function registerOperatorRoutes(app: FastifyInstance): void {
  app.post(
    '/api/v1/operator/stock-units',
    handle('stock_seed_failed', async (req) => {
      const { operation, replay } = await seedStock(req.ctx, req.body);
      return [replay ? 200 : 202, operation];
    }),
  );
  app.get<StockQ>('/api/v1/operator/stock-units', handle<StockQ>('stock_list_failed', async (req) => listAnswer(await listStockUnits(req.ctx, optString(req.query.specName, 'specName'), restPageArgs(req.query), REST_LIST_BOUNDS, { after: 'continue', before: 'continue' }))));
  app.get<JobQ>('/api/v1/operator/jobs/:operationID', handle<JobQ>('job_get_failed', async (req) => [200, await getOperation(req.ctx, req.params.operationID)]));
}
