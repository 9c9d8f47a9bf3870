import type { FastifyPluginAsync } from 'fastify';
import { PlatformError } from '../../core/errors.js';
import { requireAdmin, principalOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { errorResponses } from '../errors.js';
import { liveStatus } from '../live-status.js';
import { forgetCharger } from '../ownership.js';
import { SECURITY, idParam, installationCreateBody, installationParams, installationPatchBody, installationRecord } from '../schemas.js';
import { requireInstallation } from '../scope.js';
import { convertCurrents } from '../units.js';
import { installationView } from '../views.js';

const PHASE_KEYS = ['L1', 'L2', 'L3'] as const;
const tags = ['installations'];

/** Fuse currents written with units become amperes before the store validates them. */
function withFuseAmperes(body: unknown): unknown {
  if (typeof body !== 'object' || body === null || !('fuse' in body)) return body;
  const b = body as Record<string, unknown>;
  return { ...b, fuse: convertCurrents(b.fuse, PHASE_KEYS, 'fuse') };
}

export function installationRoutes(deps: ApiDeps): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Body: Record<string, unknown> }>(
      '/installations',
      {
        schema: {
          tags,
          summary: 'Create an installation (admin only)',
          security: SECURITY,
          body: installationCreateBody,
          response: { 201: installationRecord, ...errorResponses(400, 401, 404, 409, 429) },
        },
      },
      async (req, reply) => {
        requireAdmin(req);
        const inst = await deps.installations.create(withFuseAmperes(req.body));
        return reply.code(201).send(await installationView(deps, inst));
      },
    );

    app.get<{ Querystring: { limit: number; after?: string } }>(
      '/installations',
      {
        schema: {
          tags,
          summary: 'List installations (installers see only theirs), in id order',
          security: SECURITY,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
              after: { ...idParam, description: 'Cursor: the `next` of the previous page' },
            },
          },
          response: {
            200: {
              type: 'object',
              additionalProperties: false,
              required: ['items'],
              properties: {
                items: { type: 'array', items: installationRecord },
                next: { type: 'string', description: 'Pass as `after` for the next page; absent on the last page' },
              },
            },
            ...errorResponses(400, 401, 429),
          },
        },
      },
      async (req) => {
        const p = principalOf(req);
        const page = await deps.installations.list({
          limit: req.query.limit,
          ...(req.query.after ? { after: req.query.after } : {}),
          ...(p.role === 'installer' ? { ids: p.installations } : {}),
        });
        const items = await Promise.all(page.items.map((i) => installationView(deps, i)));
        return page.next ? { items, next: page.next } : { items };
      },
    );

    app.get<{ Params: { id: string } }>(
      '/installations/:id',
      {
        schema: {
          tags,
          summary: 'Get an installation',
          security: SECURITY,
          params: installationParams,
          response: { 200: installationRecord, ...errorResponses(400, 401, 404, 429) },
        },
      },
      async (req) => installationView(deps, await requireInstallation(deps, req, req.params.id)),
    );

    app.patch<{ Params: { id: string }; Body: Record<string, unknown> }>(
      '/installations/:id',
      {
        schema: {
          tags,
          summary: 'Change an installation with a JSON merge patch, e.g. { "fuse": { "L1": 40 } }',
          security: SECURITY,
          consumes: ['application/json', 'application/merge-patch+json'],
          params: installationParams,
          body: installationPatchBody,
          response: { 200: installationRecord, ...errorResponses(400, 401, 404, 409, 429) },
        },
      },
      async (req) => {
        await requireInstallation(deps, req, req.params.id);
        const inst = await deps.installations.patch(req.params.id, withFuseAmperes(req.body));
        return installationView(deps, inst);
      },
    );

    app.delete<{ Params: { id: string }; Querystring: { force: boolean } }>(
      '/installations/:id',
      {
        schema: {
          tags,
          summary: 'Delete an installation and its chargers (409 while any charger is connected, unless force=true)',
          security: SECURITY,
          params: installationParams,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { force: { type: 'boolean', default: false } },
          },
          response: { 204: { type: 'null', description: 'Deleted' }, ...errorResponses(400, 401, 404, 409, 429) },
        },
      },
      async (req, reply) => {
        const { id } = req.params;
        await requireInstallation(deps, req, id);
        const chargers = await deps.chargers.listByInstallation(id);
        if (!req.query.force) {
          const live = await Promise.all(chargers.map(async (c) => ({ id: c.id, live: await liveStatus(deps.commands, c.id) })));
          const connected = live.filter((l) => l.live.state !== 'not-connected').map((l) => l.id);
          if (connected.length > 0) {
            throw new PlatformError('HAS_CONNECTED_CHARGERS', `Installation ${id} has connected chargers: ${connected.join(', ')} (use ?force=true to delete anyway)`);
          }
        }
        // Chargers first: if this fails half-way, the installation still exists and a retry finishes.
        for (const c of chargers) {
          await deps.chargers.delete(c.id);
          await forgetCharger(deps, c.id);
        }
        await deps.availableCurrent.delete(id);
        // Before the record goes: an id created again later must not be reachable with an old token.
        await deps.tokens.removeInstallation(id);
        await deps.installations.delete(id);
        req.log.info({ installationId: id, chargers: chargers.length, force: req.query.force }, 'installation deleted');
        return reply.code(204).send();
      },
    );
  };
}
