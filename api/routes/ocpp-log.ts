import type { FastifyPluginAsync } from 'fastify';
import { principalOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { errorResponses } from '../errors.js';
import { readOcppLog } from '../ocpp-log-reader.js';
import { SECURITY, chargerParams } from '../schemas.js';
import { requireCharger } from '../scope.js';

const entry = {
  type: 'object',
  additionalProperties: false,
  required: ['seq', 'chargerId', 'direction', 'type', 'id', 'payload', 'at'],
  properties: {
    seq: { type: 'integer', description: 'Stream sequence' },
    chargerId: { type: 'string' },
    direction: { type: 'string', enum: ['in', 'out'], description: 'in: from the charger; out: to the charger' },
    type: { type: 'string', enum: ['CALL', 'CALLRESULT', 'CALLERROR'] },
    id: { type: 'string', description: 'OCPP message id' },
    action: { type: 'string' },
    payload: { description: 'The OCPP payload (AuthorizationKey values are redacted)' },
    at: { type: 'string' },
  },
} as const;

export function ocppLogRoutes(deps: ApiDeps): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Params: { chargerId: string }; Querystring: { limit: number } }>(
      '/chargers/:chargerId/ocpp-log',
      {
        schema: {
          tags: ['ocpp-log'],
          summary: "The charger's newest OCPP messages, oldest first",
          security: SECURITY,
          params: chargerParams,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
          },
          response: {
            200: { type: 'object', additionalProperties: false, required: ['items'], properties: { items: { type: 'array', items: entry } } },
            ...errorResponses(400, 401, 404, 429),
          },
        },
      },
      async (req) => {
        const { chargerId } = req.params;
        // Installers only of their own chargers; a deleted charger's log is purged with it (api/ownership.ts).
        if (principalOf(req).role !== 'admin') await requireCharger(deps, req, chargerId);
        return { items: await readOcppLog(deps.bus, chargerId, req.query.limit) };
      },
    );
  };
}
