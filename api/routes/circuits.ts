import type { FastifyPluginAsync } from 'fastify';
import { circuitFromInput, circuitInputSchema, circuitMeterSchema, ROOT_CIRCUIT_ID, withCircuit, withoutCircuit } from '../../core/circuits.js';
import { PlatformError, ValidationError } from '../../core/errors.js';
import type { Circuit, Installation } from '../../core/model.js';
import { publishMeterReading, meterReadingSchema } from '../../core/meter-reading.js';
import { validateWith } from '../../core/validate.js';
import type { ApiDeps } from '../deps.js';
import { errorResponses } from '../errors.js';
import { SECURITY, idParam, readable, type JsonSchema } from '../schemas.js';
import { requireInstallation } from '../scope.js';
import { convertCurrents } from '../units.js';

const tags = ['circuits'];

const params = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'circuitId'],
  properties: { id: idParam, circuitId: idParam },
} as const;

/** A circuit as returned: the root (`main`, the installation's fuse) included. */
const circuitRecord: JsonSchema = (() => {
  const s = readable(circuitInputSchema);
  const p = s.properties as Record<string, JsonSchema>;
  p.id = { type: 'string' };
  p.root = { type: 'boolean', description: `True for "${ROOT_CIRCUIT_ID}", the installation's own fuse` };
  s.required = ['id', 'name', 'limits', 'root'];
  return s;
})();

/** PUT body: a sub-circuit needs name and limits (checked in the handler); the root takes only `meter`. */
const putBody: JsonSchema = (() => {
  const s = structuredClone(circuitInputSchema) as JsonSchema;
  delete s.required;
  s.description = `A circuit below the fuse: name, limits (A per wired phase), parentId, meter. For "${ROOT_CIRCUIT_ID}" only meter.`;
  return s;
})();

export function rootCircuit(inst: Installation): Circuit & { root: true } {
  return { id: ROOT_CIRCUIT_ID, name: inst.name, limits: { ...inst.fuse }, ...(inst.meter ? { meter: inst.meter } : {}), root: true };
}

function circuitView(c: Circuit): Circuit & { root: boolean } {
  return { ...c, parentId: c.parentId ?? ROOT_CIRCUIT_ID, root: false };
}

function findCircuit(inst: Installation, id: string): Circuit & { root: boolean } {
  if (id === ROOT_CIRCUIT_ID) return rootCircuit(inst);
  const c = inst.circuits?.find((x) => x.id === id);
  if (!c) throw new PlatformError('NOT_FOUND', `Circuit ${id} not found in installation ${inst.id}`);
  return circuitView(c);
}

export function circuitRoutes(deps: ApiDeps): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Params: { id: string } }>(
      '/installations/:id/circuits',
      {
        schema: {
          tags,
          summary: `The installation's circuits: "${ROOT_CIRCUIT_ID}" (its fuse) first, then the circuits below it in id order`,
          security: SECURITY,
          params: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: idParam } },
          response: {
            200: { type: 'object', additionalProperties: false, required: ['items'], properties: { items: { type: 'array', items: circuitRecord } } },
            ...errorResponses(400, 401, 404, 429),
          },
        },
      },
      async (req) => {
        const inst = await requireInstallation(deps, req, req.params.id);
        return { items: [rootCircuit(inst), ...(inst.circuits ?? []).map(circuitView)] };
      },
    );

    app.get<{ Params: { id: string; circuitId: string } }>(
      '/installations/:id/circuits/:circuitId',
      {
        schema: { tags, summary: 'One circuit', security: SECURITY, params, response: { 200: circuitRecord, ...errorResponses(400, 401, 404, 429) } },
      },
      async (req) => findCircuit(await requireInstallation(deps, req, req.params.id), req.params.circuitId),
    );

    app.put<{ Params: { id: string; circuitId: string }; Body: Record<string, unknown> }>(
      '/installations/:id/circuits/:circuitId',
      {
        schema: {
          tags,
          summary: 'Create or replace a circuit (400 naming the field for a cycle, an unknown parent, or a phase the parent is not wired to)',
          security: SECURITY,
          params,
          body: putBody,
          response: { 200: circuitRecord, 201: circuitRecord, ...errorResponses(400, 401, 404, 409, 429) },
        },
      },
      async (req, reply) => {
        const { id, circuitId } = req.params;
        const inst = await requireInstallation(deps, req, id);
        if (circuitId === ROOT_CIRCUIT_ID) {
          for (const field of ['name', 'limits', 'parentId']) {
            if (field in req.body) throw new ValidationError(field, `cannot be set on "${ROOT_CIRCUIT_ID}": it is the installation's fuse (PATCH /installations/${id})`);
          }
          const meter = req.body.meter === undefined ? undefined : validateWith<NonNullable<Circuit['meter']>>(circuitMeterSchema, req.body.meter);
          return rootCircuit(await deps.installations.setRootMeter(id, meter));
        }
        const circuit = circuitFromInput(circuitId, { ...req.body, ...(req.body.limits ? { limits: convertCurrents(req.body.limits, ['L1', 'L2', 'L3'], 'limits') } : {}) });
        const existed = inst.circuits?.some((c) => c.id === circuitId) ?? false;
        const updated = await deps.installations.updateCircuits(id, (current) => withCircuit(current, circuit));
        return reply.code(existed ? 200 : 201).send(findCircuit(updated, circuitId));
      },
    );

    app.delete<{ Params: { id: string; circuitId: string } }>(
      '/installations/:id/circuits/:circuitId',
      {
        schema: {
          tags,
          summary: 'Delete a circuit (409 while circuits or chargers hang on it)',
          security: SECURITY,
          params,
          response: { 204: { type: 'null', description: 'Deleted' }, ...errorResponses(400, 401, 404, 409, 429) },
        },
      },
      async (req, reply) => {
        const { id, circuitId } = req.params;
        await requireInstallation(deps, req, id);
        if (circuitId === ROOT_CIRCUIT_ID) throw new ValidationError('circuitId', `"${ROOT_CIRCUIT_ID}" is the installation's fuse`);
        const chargers = (await deps.chargers.listByInstallation(id)).filter((c) => c.circuitId === circuitId).map((c) => c.id);
        await deps.installations.updateCircuits(id, (current) => withoutCircuit(current, circuitId, chargers));
        return reply.code(204).send();
      },
    );

    app.put<{ Params: { id: string; circuitId: string }; Body: Record<string, unknown> }>(
      '/installations/:id/circuits/:circuitId/meter',
      {
        schema: {
          tags,
          summary: 'A grid meter reading: per-phase current of everything on the circuit, chargers included (the same as publishing on the meter subject)',
          security: SECURITY,
          params,
          body: meterReadingSchema,
          response: { 202: { type: 'null', description: 'Published to the balancer' }, ...errorResponses(400, 401, 404, 429) },
        },
      },
      async (req, reply) => {
        const { id, circuitId } = req.params;
        const inst = await requireInstallation(deps, req, id);
        findCircuit(inst, circuitId);
        publishMeterReading(deps.bus.nc, id, circuitId, req.body, new Date());
        return reply.code(202).send();
      },
    );
  };
}
