/**
 * Circuits of an installation as users write them: the schema, and the rules a tree must keep (no
 * cycles, known parents, a child wired only to phases its parent has, limits > 0). Pure: the store
 * applies them inside its compare-and-set update, the API maps the errors to 400 naming the field.
 */
import { PlatformError, ValidationError } from './errors.js';
import { ID_PATTERN } from './ids.js';
import type { Circuit, Installation } from './model.js';
import { PHASES } from './model.js';
import { MAX_FUSE_A, phaseCurrentsFromZero } from './schemas.js';
import { validateWith } from './validate.js';

/** The installation's own fuse, as a circuit: the root every other circuit hangs from. */
export const ROOT_CIRCUIT_ID = 'main';

const limit = { type: 'number', exclusiveMinimum: 0, maximum: MAX_FUSE_A } as const;

export const circuitMeterSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    maxAgeS: { type: 'integer', minimum: 1, maximum: 86_400, description: "Seconds of silence before the circuit runs on its failsafe current (default: the installation's balancer.meterMaxAgeS)" },
    failsafeCurrent: {
      type: 'object',
      additionalProperties: false,
      required: ['L1', 'L2', 'L3'],
      properties: { ...phaseCurrentsFromZero },
      description: 'Per-phase current for the chargers while the meter is silent (default: the lowest limit the meter gave in the last hour)',
    },
  },
} as const;

/** The body of `PUT .../circuits/{circuitId}`. */
export const circuitInputSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'limits'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    parentId: { type: 'string', pattern: ID_PATTERN, description: `The circuit it is wired to; absent or "${ROOT_CIRCUIT_ID}": the installation's fuse` },
    limits: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: { L1: limit, L2: limit, L3: limit },
      description: 'Per-phase fuse (A); leave out a phase the circuit is not wired to',
    },
    meter: circuitMeterSchema,
  },
} as const;

/** A validated circuit record from a user's body (`parentId: main` is stored as absent). */
export function circuitFromInput(id: string, input: unknown): Circuit {
  if (id === ROOT_CIRCUIT_ID) throw new ValidationError('circuitId', `"${ROOT_CIRCUIT_ID}" is the installation's fuse: change it with PATCH /installations/{id}`);
  const valid = validateWith<Omit<Circuit, 'id'>>(circuitInputSchema, input);
  const { parentId, ...rest } = valid;
  return { id, ...rest, ...(parentId !== undefined && parentId !== ROOT_CIRCUIT_ID ? { parentId } : {}) };
}

/**
 * Throws a ValidationError naming the field when the tree is not a tree wired as it could be: an
 * unknown parent (`parentId`), a cycle (`parentId`), or a phase the parent lacks (`limits.L3`).
 * `changed` is the circuit being written (the field names refer to its body).
 */
export function checkCircuitTree(circuits: readonly Circuit[], changed: string): void {
  const byId = new Map(circuits.map((c) => [c.id, c]));
  for (const c of circuits) {
    const field = (f: string): string => (c.id === changed ? f : `circuits.${c.id}.${f}`);
    if (c.parentId !== undefined && !byId.has(c.parentId)) throw new ValidationError(field('parentId'), `no circuit ${c.parentId} in this installation`);
    const seen = new Set<string>([c.id]);
    for (let p = c.parentId; p !== undefined; p = byId.get(p)?.parentId) {
      if (seen.has(p)) throw new ValidationError(field('parentId'), `wiring ${c.id} to ${String(c.parentId)} makes a cycle`);
      seen.add(p);
    }
    const parent = c.parentId === undefined ? undefined : byId.get(c.parentId);
    for (const p of PHASES) {
      if (c.limits[p] !== undefined && parent !== undefined && parent.limits[p] === undefined) {
        throw new ValidationError(field(`limits.${p}`), `parent circuit ${parent.id} is not wired to ${p}`);
      }
    }
  }
}

/** Circuits with `circuit` put in place (created or replaced), checked as a whole. */
export function withCircuit(installation: Installation, circuit: Circuit): Circuit[] {
  const rest = (installation.circuits ?? []).filter((c) => c.id !== circuit.id);
  const next = [...rest, circuit].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  checkCircuitTree(next, circuit.id);
  return next;
}

/** Circuits without `id`; refused while a circuit or a charger (`chargerIds`) still hangs on it. */
export function withoutCircuit(installation: Installation, id: string, chargerIds: readonly string[]): Circuit[] {
  const circuits = installation.circuits ?? [];
  if (!circuits.some((c) => c.id === id)) throw new PlatformError('NOT_FOUND', `Circuit ${id} not found in installation ${installation.id}`);
  const children = circuits.filter((c) => c.parentId === id).map((c) => c.id);
  if (children.length > 0) throw new PlatformError('CONFLICT', `Circuit ${id} still feeds circuits ${children.join(', ')}`);
  if (chargerIds.length > 0) throw new PlatformError('CONFLICT', `Circuit ${id} still feeds chargers ${chargerIds.join(', ')}`);
  return circuits.filter((c) => c.id !== id);
}
