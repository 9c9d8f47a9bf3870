import type { FastifyPluginAsync } from 'fastify';
import { PlatformError, ValidationError } from '../../core/errors.js';
import { requireAdmin } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { errorResponses } from '../errors.js';
import { SECURITY, idParam } from '../schemas.js';

const tags = ['tokens'];

const tokenRecord = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'role', 'installations', 'createdAt'],
  properties: {
    id: { type: 'string' },
    role: { type: 'string', enum: ['installer'] },
    installations: { type: 'array', items: { type: 'string' } },
    createdAt: { type: 'string', format: 'date-time' },
  },
} as const;

export function tokenRoutes(deps: ApiDeps): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Body: { installations: string[] } }>(
      '/tokens',
      {
        schema: {
          tags,
          summary: 'Create an installer token scoped to installations (admin only); the token is shown once',
          security: SECURITY,
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['installations'],
            properties: { installations: { type: 'array', minItems: 1, maxItems: 1000, uniqueItems: true, items: idParam } },
          },
          response: {
            201: {
              ...tokenRecord,
              required: [...tokenRecord.required, 'token'],
              properties: { ...tokenRecord.properties, token: { type: 'string', description: 'The bearer token. Shown only in this response.' } },
            },
            ...errorResponses(400, 401, 404, 429),
          },
        },
      },
      async (req, reply) => {
        requireAdmin(req);
        const { installations } = req.body;
        const existing = await Promise.all(installations.map((id) => deps.installations.get(id)));
        const missing = existing.findIndex((i) => !i);
        if (missing >= 0) throw new ValidationError(`installations.${missing}`, `installation ${installations[missing]} does not exist`);
        const { token, record } = await deps.tokens.create(installations);
        req.log.info({ tokenId: record.id, installations }, 'api token created');
        return reply.code(201).send({ ...record, token });
      },
    );

    app.get(
      '/tokens',
      {
        schema: {
          tags,
          summary: 'List installer tokens (admin only; tokens themselves are never shown again)',
          security: SECURITY,
          response: {
            200: { type: 'object', additionalProperties: false, required: ['items'], properties: { items: { type: 'array', items: tokenRecord } } },
            ...errorResponses(401, 404, 429),
          },
        },
      },
      async (req) => {
        requireAdmin(req);
        return { items: await deps.tokens.list() };
      },
    );

    app.delete<{ Params: { tokenId: string } }>(
      '/tokens/:tokenId',
      {
        schema: {
          tags,
          summary: 'Revoke an installer token (admin only)',
          security: SECURITY,
          params: { type: 'object', additionalProperties: false, required: ['tokenId'], properties: { tokenId: idParam } },
          response: { 204: { type: 'null', description: 'Revoked' }, ...errorResponses(400, 401, 404, 429) },
        },
      },
      async (req, reply) => {
        requireAdmin(req);
        if (!(await deps.tokens.delete(req.params.tokenId))) throw new PlatformError('NOT_FOUND', `Token ${req.params.tokenId} not found`);
        req.log.info({ tokenId: req.params.tokenId }, 'api token revoked');
        return reply.code(204).send();
      },
    );
  };
}
