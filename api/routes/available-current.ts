import type { FastifyPluginAsync } from 'fastify';
import { MAX_AVAILABLE_CURRENT_TTL_S, DEFAULT_AVAILABLE_CURRENT_TTL_S } from '../../core/available-current-store.js';
import { PlatformError } from '../../core/errors.js';
import { MAX_FUSE_A } from '../../core/schemas.js';
import type { ApiDeps } from '../deps.js';
import { errorResponses } from '../errors.js';
import { SECURITY, installationParams, unitCurrent, type JsonSchema } from '../schemas.js';
import { requireInstallation } from '../scope.js';
import { convertCurrents } from '../units.js';

const tags = ['available-current'];

const body: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['L1', 'L2', 'L3'],
  properties: {
    L1: unitCurrent(MAX_FUSE_A, { minimum: 0 }),
    L2: unitCurrent(MAX_FUSE_A, { minimum: 0 }),
    L3: unitCurrent(MAX_FUSE_A, { minimum: 0 }),
    ttlSeconds: {
      type: 'integer',
      minimum: 1,
      maximum: MAX_AVAILABLE_CURRENT_TTL_S,
      description: `Seconds until the limit expires and the installation's failsafe current applies (default ${DEFAULT_AVAILABLE_CURRENT_TTL_S})`,
    },
  },
};

const record: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['installationId', 'L1', 'L2', 'L3', 'setAt', 'expiresAt'],
  properties: {
    installationId: { type: 'string' },
    L1: { type: 'number' },
    L2: { type: 'number' },
    L3: { type: 'number' },
    setAt: { type: 'string', format: 'date-time' },
    expiresAt: { type: 'string', format: 'date-time' },
  },
};

export function availableCurrentRoutes(deps: ApiDeps): FastifyPluginAsync {
  return async (app) => {
    app.put<{ Params: { id: string }; Body: Record<string, unknown> }>(
      '/installations/:id/available-current',
      {
        schema: {
          tags,
          summary: 'Set a dynamic available current per phase (from an energy manager), valid for ttlSeconds',
          security: SECURITY,
          params: installationParams,
          body,
          response: { 200: record, ...errorResponses(400, 401, 404, 429) },
        },
      },
      async (req) => {
        await requireInstallation(deps, req, req.params.id);
        return deps.availableCurrent.set(req.params.id, convertCurrents(req.body, ['L1', 'L2', 'L3'], ''));
      },
    );

    app.get<{ Params: { id: string } }>(
      '/installations/:id/available-current',
      {
        schema: {
          tags,
          summary: 'The dynamic available current in force (404 when none is set or it expired)',
          security: SECURITY,
          params: installationParams,
          response: { 200: record, ...errorResponses(400, 401, 404, 429) },
        },
      },
      async (req) => {
        await requireInstallation(deps, req, req.params.id);
        const found = await deps.availableCurrent.get(req.params.id);
        if (!found) throw new PlatformError('NOT_FOUND', `No available current in force for installation ${req.params.id}`);
        return found;
      },
    );

    app.delete<{ Params: { id: string } }>(
      '/installations/:id/available-current',
      {
        schema: {
          tags,
          summary: 'Remove the dynamic available current (no energy manager any more); the static fuse applies, not the failsafe',
          security: SECURITY,
          params: installationParams,
          response: { 204: { type: 'null', description: 'Removed' }, ...errorResponses(400, 401, 404, 429) },
        },
      },
      async (req, reply) => {
        await requireInstallation(deps, req, req.params.id);
        if (!(await deps.availableCurrent.delete(req.params.id))) {
          throw new PlatformError('NOT_FOUND', `No available current set for installation ${req.params.id}`);
        }
        return reply.code(204).send();
      },
    );
  };
}
