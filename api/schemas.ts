import { ID_PATTERN } from '../core/ids.js';
import { MAX_CHARGER_A, MAX_FUSE_A, chargerInputSchema, installationInputSchema, phaseCurrentsSchema } from '../core/schemas.js';

/**
 * Route schemas, derived from the stores' schemas in core/schemas.ts so that a rule is stated once:
 * request bodies accept currents with units, PATCH bodies accept `null` (merge-patch delete), and
 * responses drop write-only fields (secrets) and defaults.
 */
export type JsonSchema = Record<string, unknown>;

const clone = (s: object): JsonSchema => structuredClone(s) as JsonSchema;
const props = (s: JsonSchema): Record<string, JsonSchema> => (s.properties ?? {}) as Record<string, JsonSchema>;

/** A current in amperes, or a string with a unit (`"63 A"`); numbers are range-checked here, strings after conversion. */
export function unitCurrent(max: number, min: { exclusiveMinimum: number } | { minimum: number } = { exclusiveMinimum: 0 }): JsonSchema {
  return {
    type: ['number', 'string'],
    ...min,
    maximum: max,
    minLength: 1,
    maxLength: 40,
    description: `Amperes (${'exclusiveMinimum' in min ? `> ${min.exclusiveMinimum}` : `>= ${min.minimum}`}, <= ${max}), or a string with a unit, e.g. "63 A" or "0.063 kA"`,
  };
}

/** Removes write-only properties (secrets) and defaults, recursively: the shape of what we return. */
export function readable(schema: object): JsonSchema {
  const s = clone(schema);
  const walk = (node: JsonSchema): void => {
    delete node.default;
    if (node.properties) {
      const p = props(node);
      for (const [k, v] of Object.entries(p)) {
        if (v.writeOnly === true) delete p[k];
        else walk(v);
      }
      if (Array.isArray(node.required)) node.required = (node.required as string[]).filter((r) => r in p);
    }
    if (node.items && typeof node.items === 'object') walk(node.items as JsonSchema);
  };
  walk(s);
  return s;
}

/** Makes a property also accept `null` (JSON merge patch: null deletes it). */
function orNull(s: JsonSchema): JsonSchema {
  const type = s.type;
  if (type === undefined) return s;
  const types = Array.isArray(type) ? (type as string[]) : [type as string];
  return { ...s, type: types.includes('null') ? types : [...types, 'null'] };
}

function withoutDefault(schema: JsonSchema): JsonSchema {
  const { default: _default, ...rest } = schema;
  return rest;
}

/** A JSON merge patch of `schema`: nothing required, no defaults, every property may be null except the `keepType` paths. */
function mergePatchOf(schema: JsonSchema, keepType: ReadonlySet<string>, path = ''): JsonSchema {
  const s = clone(schema);
  delete s.required;
  delete s.default;
  if (s.properties) {
    s.properties = Object.fromEntries(
      Object.entries(props(s)).map(([k, v]) => {
        const p = path ? `${path}.${k}` : k;
        const inner = v.type === 'object' ? mergePatchOf(v, keepType, p) : withoutDefault(v);
        return [k, keepType.has(p) ? inner : orNull(inner)];
      }),
    );
  }
  return s;
}

const fuseWithUnits: JsonSchema = {
  ...clone(phaseCurrentsSchema),
  properties: { L1: unitCurrent(MAX_FUSE_A), L2: unitCurrent(MAX_FUSE_A), L3: unitCurrent(MAX_FUSE_A) },
};

export const installationCreateBody: JsonSchema = (() => {
  const s = clone(installationInputSchema);
  props(s).fuse = fuseWithUnits;
  return s;
})();

export const installationPatchBody: JsonSchema = {
  ...mergePatchOf(installationCreateBody, new Set(['fuse.L1', 'fuse.L2', 'fuse.L3'])),
  description: 'JSON merge patch (RFC 7386): nested objects merge, null removes an optional field. `{ "fuse": { "L1": 40 } }` changes one phase.',
};

const timestamps = { createdAt: { type: 'string', format: 'date-time' }, updatedAt: { type: 'string', format: 'date-time' } };

export const installationRecord: JsonSchema = (() => {
  const s = readable(installationInputSchema);
  const p = props(s);
  const ocpp = p.ocpp as JsonSchema;
  props(ocpp).hasInitialPassword = { type: 'boolean', description: 'Whether ocpp.initialPassword is set (the password itself is write-only)' };
  ocpp.required = ['partnerEnabled'];
  (p.authorization as JsonSchema).required = ['required', 'idTags'];
  // failsafeCurrent is optional: unset means "the lowest dynamic limit of the last hour".
  (p.balancer as JsonSchema).required = Object.keys(props(p.balancer as JsonSchema)).filter((k) => k !== 'failsafeCurrent');
  Object.assign(p, timestamps);
  s.required = ['id', 'name', 'fuse', 'authorization', 'ocpp', 'balancer', 'createdAt', 'updatedAt'];
  return s;
})();

export const chargerPutBody: JsonSchema = (() => {
  const s = clone(chargerInputSchema);
  const p = props(s);
  p.maxCurrent = unitCurrent(MAX_CHARGER_A);
  p.minCurrent = { ...unitCurrent(MAX_CHARGER_A, { minimum: 0 }), description: `Amperes (>= 0, <= ${MAX_CHARGER_A}, default 6), or a string with a unit, e.g. "6 A"` };
  return s;
})();

export const chargerRecord: JsonSchema = (() => {
  const s = readable(chargerInputSchema);
  const p = props(s);
  const ocpp = p.ocpp as JsonSchema;
  Object.assign(props(ocpp), {
    verboseLoggingUntil: { type: 'string', format: 'date-time', description: 'Until when the OCPP log keeps MeterValues and Heartbeat' },
    hasPassword: { type: 'boolean', description: 'Whether ocpp.password is set (the password itself is write-only)' },
  });
  ocpp.required = ['webSocketPing', 'hasPassword'];
  Object.assign(p, { id: { type: 'string' }, installationId: { type: 'string' }, ...timestamps });
  s.required = ['id', 'installationId', 'serial', 'phases', 'phaseRotation', 'gridPhase', 'minCurrent', 'maxCurrent', 'priority', 'profilePurpose', 'ocppValidation', 'ocpp', 'createdAt', 'updatedAt'];
  return s;
})();

export const idParam = { type: 'string', pattern: ID_PATTERN } as const;

export const installationParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: idParam },
} as const;

export const chargerParams = {
  type: 'object',
  additionalProperties: false,
  required: ['chargerId'],
  properties: { chargerId: idParam },
} as const;

export const installationChargerParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'chargerId'],
  properties: { id: idParam, chargerId: idParam },
} as const;

/** Per-phase numbers, for responses. */
export const phaseNumbers = (nullable: boolean): JsonSchema => {
  const n = { type: nullable ? ['number', 'null'] : 'number' };
  return { type: 'object', additionalProperties: false, required: ['L1', 'L2', 'L3'], properties: { L1: n, L2: n, L3: n } };
};

export const SECURITY = [{ bearerAuth: [] }];
