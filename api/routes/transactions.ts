import type { FastifyPluginAsync } from 'fastify';
import { ValidationError } from '../../core/errors.js';
import type { Transaction, TransactionPage } from '../../core/transaction-store.js';
import { mayAccess, principalOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { errorResponses } from '../errors.js';
import { SECURITY, chargerParams, installationParams, type JsonSchema } from '../schemas.js';
import { requireCharger, requireInstallationAccess } from '../scope.js';

const tags = ['transactions'];

const query: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    from: { type: 'string', format: 'date-time', description: 'Transactions started at or after (ISO 8601)' },
    to: { type: 'string', format: 'date-time', description: 'Transactions started at or before (ISO 8601)' },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    cursor: { type: 'integer', minimum: 1, description: 'The `next` of the previous page' },
  },
};

const transaction: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['transactionId', 'chargerId', 'installationId', 'connectorId', 'idTag', 'meterStartWh', 'startedAt'],
  properties: {
    transactionId: { type: 'integer' },
    chargerId: { type: 'string' },
    installationId: { type: 'string' },
    connectorId: { type: 'integer' },
    idTag: { type: 'string' },
    meterStartWh: { type: 'number' },
    startedAt: { type: 'string' },
    meterStopWh: { type: 'number' },
    stoppedAt: { type: 'string' },
    stopReason: { type: 'string' },
    energyWh: { type: 'number' },
  },
};

const response = {
  200: {
    type: 'object',
    additionalProperties: false,
    required: ['items'],
    properties: {
      items: { type: 'array', items: transaction, description: 'Newest first' },
      next: { type: 'integer', description: 'Cursor of the next page (as `cursor`); absent on the last page' },
    },
  },
  ...errorResponses(400, 401, 404, 429),
};

interface Query {
  from?: string;
  to?: string;
  limit: number;
  cursor?: number;
}

function range(q: Query): { from?: Date; to?: Date } {
  const from = q.from ? new Date(q.from) : undefined;
  const to = q.to ? new Date(q.to) : undefined;
  if (from && to && from > to) throw new ValidationError('to', 'must not be before from');
  return { ...(from ? { from } : {}), ...(to ? { to } : {}) };
}

async function listTransactions(
  deps: ApiDeps,
  scope: { chargerId: string } | { installationId: string },
  q: Query,
  visible: (t: Transaction) => boolean,
): Promise<TransactionPage> {
  return deps.transactions.page({ ...scope, ...range(q), limit: q.limit, where: visible, ...(q.cursor !== undefined ? { before: q.cursor } : {}) });
}

export function transactionRoutes(deps: ApiDeps): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Params: { chargerId: string }; Querystring: Query }>(
      '/chargers/:chargerId/transactions',
      { schema: { tags, summary: "A charger's transactions, newest first", security: SECURITY, params: chargerParams, querystring: query, response } },
      async (req) => {
        const { chargerId } = req.params;
        // Admins may read the history of a charger that was deleted since; installers only of their own.
        if (principalOf(req).role !== 'admin') await requireCharger(deps, req, chargerId);
        // A charger id may have belonged to another installation before; installers see only their part.
        const p = principalOf(req);
        return listTransactions(deps, { chargerId }, req.query, (t) => mayAccess(p, t.installationId));
      },
    );

    app.get<{ Params: { id: string }; Querystring: Query }>(
      '/installations/:id/transactions',
      { schema: { tags, summary: "An installation's transactions, newest first", security: SECURITY, params: installationParams, querystring: query, response } },
      async (req) => {
        requireInstallationAccess(req, req.params.id);
        return listTransactions(deps, { installationId: req.params.id }, req.query, () => true);
      },
    );
  };
}
