/** The JSON schema of a scenario file: validation fills in the defaults the runner relies on. */

const phaseCurrents = {
  type: 'object',
  additionalProperties: false,
  required: ['L1', 'L2', 'L3'],
  properties: { L1: { type: 'number', minimum: 0 }, L2: { type: 'number', minimum: 0 }, L3: { type: 'number', minimum: 0 } },
} as const;
const partialCurrents = { ...phaseCurrents, required: [] } as const;
const phase = { type: 'string', enum: ['L1', 'L2', 'L3'] } as const;

const nonNeg = { type: 'number', minimum: 0 } as const;

/** A base load per phase (A) with an optional sine swing: the site's and a board's load. */
const swingingLoad = {
  L1: { ...nonNeg, default: 0 },
  L2: { ...nonNeg, default: 0 },
  L3: { ...nonNeg, default: 0 },
  swing: {
    type: 'object',
    additionalProperties: false,
    required: ['phases', 'amplitudeA', 'periodS'],
    properties: { phases: { type: 'array', items: phase, minItems: 1 }, amplitudeA: nonNeg, periodS: { type: 'number', exclusiveMinimum: 0 }, fromS: { ...nonNeg, default: 0 } },
  },
} as const;
const id = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,40}$' } as const;

const installationSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'fuse', 'chargers'],
  properties: {
    id,
    fuse: phaseCurrents,
    safetyMarginA: nonNeg,
    balancer: {
      type: 'object',
      additionalProperties: false,
      properties: {
        ...Object.fromEntries(['settleMs', 'deadbandA', 'minChangeIntervalMs', 'rotationIntervalMs', 'minRunMs', 'minPauseMs', 'admissionWindowMs', 'changesPerHour', 'changeBurst', 'idleAfterMs', 'wakeProbeIntervalMs', 'wakeProbeMs', 'phaseSwitchHoldMs', 'maxPhaseSwitches'].map((k) => [k, nonNeg])),
        failsafeCurrent: phaseCurrents,
        fuseDedicatedToChargers: { type: 'boolean' },
      },
    },
    baseLoad: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        ...swingingLoad,
        noise: {
          type: 'object',
          additionalProperties: false,
          required: ['amplitudeA', 'intervalS'],
          properties: { amplitudeA: nonNeg, intervalS: { type: 'number', exclusiveMinimum: 0 } },
        },
      },
    },
    energyManager: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        intervalS: { type: 'number', exclusiveMinimum: 0, default: 1 },
        deadbandA: { ...nonNeg, default: 0.5 },
        ttlS: { type: 'number', exclusiveMinimum: 0 },
      },
    },
    chargers: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'phases', 'maxCurrent'],
        properties: {
          id,
          phases: { type: 'integer', enum: [1, 3] },
          phaseRotation: { type: 'string', enum: ['L1L2L3', 'L2L3L1', 'L3L1L2', 'L1L3L2', 'L3L2L1', 'L2L1L3'] },
          gridPhase: phase,
          maxCurrent: { type: 'number', exclusiveMinimum: 0 },
          minCurrent: nonNeg,
          priority: { type: 'integer', minimum: 0, maximum: 100 },
          profilePurpose: { type: 'string', enum: ['ChargePointMaxProfile', 'TxDefaultProfile', 'TxProfile'] },
          offlineCurrent: { oneOf: [{ type: 'string', enum: ['lastLimit', 'max'] }, nonNeg] },
          resendProfileOnTransaction: { type: 'boolean' },
          circuitId: id,
          phaseSwitching: { type: 'boolean' },
          behaviour: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: {
              ignoresProfileAfterResume: { type: 'boolean' },
              acceptLateS: nonNeg,
              rebootLosesProfiles: { type: 'boolean' },
              fullCurrentBeforeProfile: { type: 'boolean' },
            },
          },
        },
      },
    },
    circuits: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'limits'],
        properties: {
          id,
          parentId: id,
          limits: { type: 'object', additionalProperties: false, minProperties: 1, properties: { L1: nonNeg, L2: nonNeg, L3: nonNeg } },
          baseLoad: {
            type: 'object',
            additionalProperties: false,
            properties: {
              ...swingingLoad,
            },
          },
          meter: {
            type: 'object',
            additionalProperties: false,
            required: ['intervalS', 'maxAgeS'],
            properties: { intervalS: { type: 'number', exclusiveMinimum: 0 }, maxAgeS: { type: 'number', exclusiveMinimum: 0 }, failsafeCurrent: phaseCurrents },
          },
        },
      },
    },
    cars: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['charger', 'arriveS'],
        properties: {
          charger: id,
          arriveS: nonNeg,
          departS: nonNeg,
          phases: { type: 'integer', enum: [1, 2, 3], default: 3 },
          maxA: { type: 'number', exclusiveMinimum: 0, default: 32 },
          batteryKWh: { type: 'number', exclusiveMinimum: 0, default: 60 },
          socStart: { type: 'number', minimum: 0, maximum: 1, default: 0.2 },
          socTarget: { type: 'number', minimum: 0, maximum: 1, default: 1 },
          taperFromSoc: { type: 'number', minimum: 0, maximum: 1, default: 0.8 },
          responseDelayS: {
            default: [1, 3],
            oneOf: [nonNeg, { type: 'array', items: nonNeg, minItems: 2, maxItems: 2 }],
          },
          sleepUntilS: nonNeg,
          capA: nonNeg,
          capUntilS: nonNeg,
          idTag: { type: 'string', maxLength: 20, default: 'SIM-TAG' },
        },
      },
    },
    events: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        required: ['atS', 'type'],
        properties: {
          atS: nonNeg,
          type: { type: 'string', enum: ['fuse', 'baseLoad', 'offline', 'reboot', 'energyManagerSilent', 'meterSilent'] },
          circuit: id,
          fuse: phaseCurrents,
          set: partialCurrents,
          add: {
            type: 'object',
            additionalProperties: false,
            properties: { L1: { type: 'number' }, L2: { type: 'number' }, L3: { type: 'number' } },
          },
          charger: id,
          durationS: { ...nonNeg, default: 30 },
        },
      },
    },
  },
} as const;

export const scenarioSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'durationS'],
  properties: {
    $schema: { type: 'string' },
    name: { type: 'string', minLength: 1 },
    description: { type: 'string', default: '' },
    durationS: { type: 'number', exclusiveMinimum: 0 },
    seed: { type: 'integer', default: 1 },
    compression: { type: 'number', exclusiveMinimum: 0 },
    meterIntervalS: { type: 'number', exclusiveMinimum: 0, default: 10 },
    voltage: { type: 'number', exclusiveMinimum: 0, default: 230 },
    platform: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: Object.fromEntries(
        ['heartbeatIntervalS', 'callTimeoutMs', 'pingIntervalMs', 'coalesceMs', 'profileTimeoutMs', 'lateAfterMs', 'retryMs', 'reclaimAfterMs', 'reclaimHeadroomA', 'reclaimThresholdA'].map((k) => [k, nonNeg]),
      ),
    },
    installations: { type: 'array', items: installationSchema, default: [] },
    generate: {
      type: 'object',
      additionalProperties: false,
      required: ['installations', 'chargersPerInstallation'],
      properties: {
        installations: { type: 'integer', minimum: 1 },
        chargersPerInstallation: { type: 'integer', minimum: 1 },
        fuseA: { ...nonNeg, default: 63 },
        onePhaseShare: { type: 'number', minimum: 0, maximum: 1, default: 0.2 },
        arrivalsPerChargerHour: { ...nonNeg, default: 1 },
        stayS: { type: 'array', items: nonNeg, minItems: 2, maxItems: 2, default: [600, 3600] },
        baseLoadA: { type: 'array', items: nonNeg, minItems: 2, maxItems: 2, default: [5, 20] },
        baseNoiseA: { ...nonNeg, default: 2 },
        initialOccupancy: { type: 'number', minimum: 0, maximum: 1, default: 0.5 },
      },
    },
  },
} as const;
