import type { FastifyPluginAsync } from 'fastify';
import { PlatformError } from '../../core/errors.js';
import { mayAccess, principalOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { errorResponses } from '../errors.js';
import { forgetCharger } from '../ownership.js';
import { SECURITY, chargerPutBody, chargerRecord, installationChargerParams, installationParams } from '../schemas.js';
import { requireCharger, requireInstallation } from '../scope.js';
import { convertCurrents } from '../units.js';
import { chargerView } from '../views.js';

const tags = ['chargers'];

export function chargerRoutes(deps: ApiDeps): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Params: { id: string } }>(
      '/installations/:id/chargers',
      {
        schema: {
          tags,
          summary: "List an installation's chargers",
          security: SECURITY,
          params: installationParams,
          response: {
            200: { type: 'object', additionalProperties: false, required: ['items'], properties: { items: { type: 'array', items: chargerRecord } } },
            ...errorResponses(400, 401, 404, 429),
          },
        },
      },
      async (req) => {
        await requireInstallation(deps, req, req.params.id);
        const chargers = await deps.chargers.listByInstallation(req.params.id);
        return { items: await Promise.all(chargers.map((c) => chargerView(deps, c))) };
      },
    );

    app.put<{ Params: { id: string; chargerId: string }; Body: Record<string, unknown> }>(
      '/installations/:id/chargers/:chargerId',
      {
        schema: {
          tags,
          summary: 'Create (201) or replace (200) a charger',
          security: SECURITY,
          params: installationChargerParams,
          body: chargerPutBody,
          response: {
            200: { ...chargerRecord, description: 'Replaced' },
            201: { ...chargerRecord, description: 'Created' },
            ...errorResponses(400, 401, 404, 409, 429),
          },
        },
      },
      async (req, reply) => {
        const { id, chargerId } = req.params;
        await requireInstallation(deps, req, id);
        // An id held by an installation the caller cannot see is reported as unknown, never named.
        const existing = await deps.chargers.get(chargerId);
        if (existing && existing.installationId !== id && !mayAccess(principalOf(req), existing.installationId)) {
          throw new PlatformError('NOT_FOUND', `Charger ${chargerId} not found`);
        }
        const body = convertCurrents(req.body, ['maxCurrent', 'minCurrent'], '');
        const { charger, created } = await deps.chargers.put(id, chargerId, body);
        return reply.code(created ? 201 : 200).send(await chargerView(deps, charger));
      },
    );

    app.get<{ Params: { id: string; chargerId: string } }>(
      '/installations/:id/chargers/:chargerId',
      {
        schema: {
          tags,
          summary: 'Get a charger',
          security: SECURITY,
          params: installationChargerParams,
          response: { 200: chargerRecord, ...errorResponses(400, 401, 404, 429) },
        },
      },
      async (req) => {
        await requireInstallation(deps, req, req.params.id);
        return chargerView(deps, await requireCharger(deps, req, req.params.chargerId, req.params.id));
      },
    );

    app.delete<{ Params: { id: string; chargerId: string } }>(
      '/installations/:id/chargers/:chargerId',
      {
        schema: {
          tags,
          summary: 'Delete a charger, its credentials and its OCPP log',
          security: SECURITY,
          params: installationChargerParams,
          response: { 204: { type: 'null', description: 'Deleted' }, ...errorResponses(400, 401, 404, 429) },
        },
      },
      async (req, reply) => {
        await requireInstallation(deps, req, req.params.id);
        await requireCharger(deps, req, req.params.chargerId, req.params.id);
        await deps.chargers.delete(req.params.chargerId);
        await forgetCharger(deps, req.params.chargerId);
        return reply.code(204).send();
      },
    );
  };
}
