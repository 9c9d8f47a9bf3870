import { ID_PATTERN } from './ids.js';

/**
 * JSON schemas of what users write. The stores validate with them (once, when written) and the API
 * reuses them for its request bodies, so a rule is stated in one place.
 */

export const MAX_FUSE_A = 4000;
export const MAX_CHARGER_A = 80;

const current = (max: number) => ({ type: 'number', exclusiveMinimum: 0, maximum: max }) as const;

export const phaseCurrentsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['L1', 'L2', 'L3'],
  properties: { L1: current(MAX_FUSE_A), L2: current(MAX_FUSE_A), L3: current(MAX_FUSE_A) },
} as const;

export const idTagSchema = { type: 'string', maxLength: 20 } as const;
const wsUrl = { type: 'string', maxLength: 512, pattern: '^wss?://[^\\s]+$' } as const;
const secret = { type: 'string', minLength: 8, maxLength: 64, writeOnly: true } as const;

const fromZero = { type: 'number', minimum: 0, maximum: MAX_FUSE_A } as const;
/** The properties of per-phase currents where 0 A is allowed: a failsafe current, a dynamic limit, a meter reading. */
export const phaseCurrentsFromZero = { L1: fromZero, L2: fromZero, L3: fromZero } as const;

export const balancerSettingsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    safetyMarginA: { type: 'number', minimum: 0, maximum: 1000, default: 0 },
    settleMs: { type: 'integer', minimum: 0, maximum: 600_000, default: 5_000 },
    deadbandA: { type: 'number', minimum: 0, maximum: 10, default: 1 },
    minChangeIntervalMs: { type: 'integer', minimum: 0, maximum: 3_600_000, default: 10_000 },
    rotationIntervalMs: { type: 'integer', minimum: 0, maximum: 86_400_000, default: 900_000 },
    minRunMs: { type: 'integer', minimum: 0, maximum: 86_400_000, default: 300_000 },
    minPauseMs: { type: 'integer', minimum: 0, maximum: 86_400_000, default: 120_000 },
    admissionWindowMs: { type: 'integer', minimum: 0, maximum: 3_600_000, default: 120_000 },
    changesPerHour: { type: 'number', minimum: 0, maximum: 1_000_000, default: 40 },
    changeBurst: { type: 'integer', minimum: 2, maximum: 1000, default: 10 },
    idleAfterMs: { type: 'integer', minimum: 0, maximum: 86_400_000, default: 180_000 },
    wakeProbeIntervalMs: { type: 'integer', minimum: 1000, maximum: 86_400_000, default: 900_000 },
    wakeProbeMs: { type: 'integer', minimum: 0, maximum: 3_600_000, default: 60_000 },
    failsafeCurrent: {
      type: 'object',
      additionalProperties: false,
      required: ['L1', 'L2', 'L3'],
      properties: { ...phaseCurrentsFromZero },
    },
    fuseDedicatedToChargers: { type: 'boolean', default: false },
    meterMaxAgeS: { type: 'integer', minimum: 1, maximum: 86_400, default: 60 },
    phaseSwitchHoldMs: { type: 'integer', minimum: 0, maximum: 86_400_000, default: 300_000 },
    maxPhaseSwitches: { type: 'integer', minimum: 0, maximum: 100, default: 5 },
  },
} as const;

export const installationInputSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'fuse'],
  properties: {
    id: { type: 'string', pattern: ID_PATTERN },
    name: { type: 'string', minLength: 1, maxLength: 200 },
    fuse: phaseCurrentsSchema,
    /** South: the password every new charger of this installation first connects with. */
    chargerPassword: secret,
    authorization: {
      type: 'object',
      additionalProperties: false,
      properties: {
        required: { type: 'boolean', default: false },
        idTags: { type: 'array', items: idTagSchema, maxItems: 10_000, default: [] },
      },
    },
    ocpp: {
      type: 'object',
      additionalProperties: false,
      properties: {
        partnerEnabled: { type: 'boolean', default: false },
        url: { ...wsUrl, pattern: '^wss?://[^\\s]*\\{deviceId\\}[^\\s]*$' },
        /** North: the password every charger first uses at the partner. */
        initialPassword: { type: 'string', minLength: 1, maxLength: 64, writeOnly: true },
        defaultIdTag: idTagSchema,
      },
    },
    balancer: balancerSettingsSchema,
  },
} as const;

export const chargerInputSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['phases', 'maxCurrent'],
  properties: {
    serial: { type: 'string', minLength: 1, maxLength: 48 },
    phases: { type: 'integer', enum: [1, 3] },
    phaseRotation: { type: 'string', enum: ['L1L2L3', 'L2L3L1', 'L3L1L2', 'L1L3L2', 'L3L2L1', 'L2L1L3'], default: 'L1L2L3' },
    gridPhase: { type: 'string', enum: ['L1', 'L2', 'L3'], default: 'L1' },
    minCurrent: { type: 'number', minimum: 0, maximum: MAX_CHARGER_A, default: 6 },
    maxCurrent: current(MAX_CHARGER_A),
    priority: { type: 'integer', minimum: 0, maximum: 100, default: 0 },
    offlineCurrent: {
      oneOf: [{ type: 'string', enum: ['lastLimit', 'max'] }, { type: 'number', minimum: 0, maximum: MAX_CHARGER_A }],
      default: 'lastLimit',
    },
    circuitId: { type: 'string', pattern: ID_PATTERN },
    phaseSwitching: { type: 'boolean', default: false },
    resendProfileOnTransaction: { type: 'boolean', default: false },
    profilePurpose: { type: 'string', enum: ['ChargePointMaxProfile', 'TxDefaultProfile', 'TxProfile'], default: 'TxDefaultProfile' },
    ocppValidation: { type: 'string', enum: ['strict', 'lenient'], default: 'strict' },
    ocpp: {
      type: 'object',
      additionalProperties: false,
      properties: {
        url: wsUrl,
        password: { type: 'string', minLength: 1, maxLength: 64, writeOnly: true },
        webSocketPing: { type: 'boolean', default: false },
        verboseLogging: { type: 'boolean', writeOnly: true },
      },
    },
  },
} as const;
