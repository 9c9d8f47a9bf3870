import type { FastifyPluginAsync } from 'fastify';
import { getJson } from '../../core/kv-json.js';
import { buckets, leaseKeys } from '../../core/subjects.js';
import type { ApiDeps } from '../deps.js';
import type { Charger } from '../../core/model.js';
import { errorResponses } from '../errors.js';
import { PARTNER_CONNECTION_KINDS } from '../../core/partner-connection.js';
import { balancerStatus, liveStatus, partnerConnections, type LiveState } from '../live-status.js';
import { SECURITY, installationParams, phaseNumbers, type JsonSchema } from '../schemas.js';
import { requireInstallation } from '../scope.js';
import { buildInstallationStatus } from '../status-view.js';

const nullableNumber = { type: ['number', 'null'] };
const nullableString = { type: ['string', 'null'] };

const phaseStatus: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['fuse', 'dynamicLimit', 'allocated', 'measured'],
  properties: {
    fuse: { type: 'number', description: 'Static fuse (A)' },
    dynamicLimit: { ...nullableNumber, description: 'Available current from the energy manager, null when none is in force' },
    allocated: { ...nullableNumber, description: 'Sum of the balancer allocation on this phase, null when no balancer answered' },
    measured: { type: 'number', description: "Sum of connected chargers' measured currents on this phase" },
  },
};

const connector: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['connectorId', 'status', 'errorCode', 'updatedAt'],
  properties: {
    connectorId: { type: 'integer' },
    status: { type: 'string' },
    errorCode: { type: 'string' },
    info: { type: 'string' },
    vendorErrorCode: { type: 'string' },
    updatedAt: { type: 'string' },
  },
};

const activeTransaction: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['transactionId', 'connectorId', 'idTag', 'meterStartWh', 'startedAt'],
  properties: {
    transactionId: { type: 'integer' },
    connectorId: { type: 'integer' },
    idTag: { type: 'string' },
    meterStartWh: { type: 'number' },
    startedAt: { type: 'string' },
  },
};

const partnerConnection: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['state', 'since', 'reason', 'retryAt', 'attempt', 'nodeId'],
  description:
    "The charger's connection to the partner Central System when the installation has OCPP authorization on: disabled (off) | offline (no partner session: the charger is not connected) | " +
    'connecting | connected (since) | pending / rejected (the BootNotification answer; boots again at retryAt) | backoff (the connection failed: reason, retryAt) | ' +
    'given-up (not trying until the configuration changes: reason) | unknown (the node with the session did not answer)',
  properties: {
    state: { type: 'string', enum: [...PARTNER_CONNECTION_KINDS] },
    since: { ...nullableString, description: 'When the session entered this state' },
    reason: nullableString,
    retryAt: { ...nullableString, description: 'When the session tries again' },
    attempt: { type: ['integer', 'null'], description: 'Failed connection attempts in a row' },
    nodeId: { ...nullableString, description: 'NODE_ID of the node running the partner session' },
  },
};

const nullablePhases = phaseNumbers(true);

const meterStatus: JsonSchema = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['circuitId', 'reading', 'readingAt', 'otherLoad'],
  description: "The circuit's grid meter; null when it has none",
  properties: {
    circuitId: { type: 'string' },
    reading: { ...nullablePhases, type: ['object', 'null'], description: 'Last reading (A), everything on the circuit' },
    readingAt: nullableString,
    otherLoad: { ...nullablePhases, type: ['object', 'null'], description: 'Reading minus what the chargers below drew then: the load that is not chargers' },
    failsafe: {
      type: 'object',
      additionalProperties: false,
      required: ['since', 'source', 'current'],
      description: 'Present while the meter is silent: the circuit runs on its failsafe current',
      properties: { since: nullableString, source: { type: 'string' }, current: phaseNumbers(false) },
    },
  },
};

const circuitStatus: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'parentId', 'fuse', 'limits', 'allocated', 'chargerIds', 'meter'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    parentId: nullableString,
    fuse: { ...nullablePhases, description: 'Fuse per phase (A); null: not wired to that phase' },
    limits: { ...nullablePhases, type: ['object', 'null'], description: 'What its chargers may draw now: fuse - margin - other load, or the failsafe' },
    allocated: { ...nullablePhases, type: ['object', 'null'], description: "The balancer's allocation below this circuit" },
    chargerIds: { type: 'array', items: { type: 'string' } },
    meter: meterStatus,
  },
};

const statusSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['installationId', 'at', 'dynamicLimitExpiresAt', 'balancerReachable', 'failsafe', 'balancerNodeId', 'balancerPaused', 'phases', 'chargers'],
  properties: {
    installationId: { type: 'string' },
    at: { type: 'string', format: 'date-time' },
    dynamicLimitExpiresAt: nullableString,
    balancerReachable: { type: 'boolean' },
    balancerNodeId: { ...nullableString, description: "NODE_ID of the node running this installation's balancer (its lease holder); null while none leads it" },
    balancerPaused: {
      type: 'boolean',
      description: "True while the balancer's node cannot renew its lease (NATS, or the lease bucket's stream electing a leader): it keeps every charger at its last limit and changes nothing until the renewal succeeds",
    },
    failsafe: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['inForce', 'since', 'source', 'current'],
      description: "Whether the installation runs on its failsafe current because the energy manager's dynamic limit expired; null when no balancer answered",
      properties: {
        inForce: { type: 'boolean' },
        since: { ...nullableString, description: 'When the dynamic limit expired' },
        source: { ...nullableString, description: 'configured | lowest dynamic limit of the last hour | fuse dedicated to chargers' },
        current: { ...phaseNumbers(false), type: ['object', 'null'], description: 'The failsafe current per phase (A), before the fuse caps it' },
      },
    },
    phases: { type: 'object', additionalProperties: false, required: ['L1', 'L2', 'L3'], properties: { L1: phaseStatus, L2: phaseStatus, L3: phaseStatus } },
    circuits: { type: 'array', items: circuitStatus, description: 'Present when the installation has circuits or a grid meter: "main" (its fuse) first' },
    chargers: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'connected', 'nodeId', 'lastSeen', 'connectors', 'currentLimit', 'limitReason', 'countedA', 'countedBecause', 'measured', 'activeTransactions', 'partner'],
        properties: {
          id: { type: 'string' },
          connected: { type: 'boolean' },
          nodeId: { ...nullableString, description: "NODE_ID of the node holding the charger's socket; null when not connected" },
          lastSeen: nullableString,
          connectors: { type: 'array', items: connector },
          currentLimit: { ...nullableNumber, description: "The balancer's current limit for this charger (A per phase)" },
          limitReason: {
            ...nullableString,
            description: 'Why the balancer gives this limit: charging | capped | reclaimed | paused | idle | offline | misconfigured | asleep; null when no balancer answered',
          },
          countedA: { ...nullableNumber, description: 'What the balancer counts this charger at (A per phase): its worst case' },
          countedBecause: {
            ...nullableString,
            description: "Why: limit | raise in flight | over limit: draw | offline: last limit | offline: max | failsafe (the charger's own offline current)",
          },
          phaseMode: { type: 'integer', enum: [1, 3], description: 'Chargers with phaseSwitching only: the phases it was last told to charge on (numberPhases)' },
          phaseSwitches: { type: 'integer', minimum: 0, description: 'Chargers with phaseSwitching only: 1/3-phase switches this session' },
          measured: { ...phaseNumbers(true), type: ['object', 'null'], description: 'Measured current per grid phase, through the charger wiring' },
          activeTransactions: { type: 'array', items: activeTransaction },
          partner: partnerConnection,
        },
      },
    },
  },
};

export function statusRoutes(deps: ApiDeps): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Params: { id: string } }>(
      '/installations/:id/status',
      {
        schema: {
          tags: ['status'],
          summary: 'Live status: per phase fuse / dynamic limit / allocated / measured, and per charger',
          security: SECURITY,
          params: installationParams,
          response: { 200: statusSchema, ...errorResponses(400, 401, 404, 429) },
        },
      },
      async (req) => {
        const installation = await requireInstallation(deps, req, req.params.id);
        const [chargers, dynamicLimit, balancer] = await Promise.all([
          chargersOf(deps, installation.id),
          deps.availableCurrent.get(installation.id),
          balancerStatus(deps.bus.nc, installation.id),
        ]);
        // The balancer names its node itself (no KV read, which waits out a stream election); the lease
        // of the installation's placement group is read only when none answered (one starting, say).
        const lease = balancer?.nodeId !== undefined ? undefined : await getJson<{ nodeId: string; expiresAt: number }>(deps.bus.kv[buckets.leases], leaseKeys.balancerOf(installation.id)).catch(() => undefined);
        const [liveList, partner] = await Promise.all([
          Promise.all(chargers.map(async (c) => [c.id, await liveStatus(deps.commands, c.id)] as const)),
          partnerConnections(deps.bus.nc, installation, chargers),
        ]);
        const live = new Map<string, LiveState>(liveList);
        return buildInstallationStatus({ installation, chargers, live, dynamicLimit, balancer, partner, balancerLease: lease?.value, now: new Date() });
      },
    );
  };
}

/** How long the status waits for the chargers listed from KV before it answers from this node's config cache. */
const CHARGER_LIST_TIMEOUT_MS = 300;

/**
 * The installation's chargers as KV lists them (what the API just wrote), or, when the listing has
 * not answered soon (it needs the bucket's stream leader, seconds away while a server's loss is
 * elected over), as this node's config cache has them: the status stays answerable.
 */
async function chargersOf(deps: ApiDeps, installationId: string): Promise<Charger[]> {
  const listed = deps.chargers.listByInstallation(installationId);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), CHARGER_LIST_TIMEOUT_MS)));
  try {
    return (await Promise.race([listed, late])) ?? deps.cache.chargersOf(installationId);
  } catch {
    return deps.cache.chargersOf(installationId);
  } finally {
    clearTimeout(timer);
    listed.catch(() => undefined);
  }
}
