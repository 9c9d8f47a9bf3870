import { assign, emit, fromPromise, not, or, setup, stateIn, type SnapshotFrom } from 'xstate';
import type { ActiveTransaction, ChargerLiveStatus, ConnectorState } from '../core/model.js';

/**
 * One charger's OCPP session as data: registration (the BootNotification answer and which calls are
 * allowed, both decided here by guards), its connectors and transactions, liveness (`lastSeen`), and
 * the rotation of its Basic-auth password. No I/O here: the session shell (`charger-session.ts`) does
 * the I/O, sends the facts in as events, and listens to what the machine emits. The password rotation
 * is an invoked actor the shell provides.
 */

export type Registration = ChargerLiveStatus['registration'];

export interface ChargerContext {
  chargerId: string;
  installationId: string;
  nodeId: string;
  connectedAt: number;
  lastSeen: number;
  /** `lastSeen` when the liveness region last (re)armed its timer. */
  livenessCheckpoint: number;
  heartbeatIntervalS: number;
  livenessGraceS: number;
  connectors: Record<number, ConnectorState>;
  /**
   * By transaction id, ascending. A list, not a record keyed by id: V8 stores an integer key below
   * about a thousand as an index of a holey array that long (a transaction numbered 600 cost its
   * charger 600 empty slots, about 6 KiB: 5 MiB of the load scenario's heap).
   */
  transactions: readonly ActiveTransaction[];
  measured: ChargerLiveStatus['measured'];
  energyWh?: number;
  firmwareStatus?: string;
  diagnosticsStatus?: string;
  /** Whether this connection authenticated with the installation's initial password. */
  needsPasswordRotation: boolean;
}

export interface ChargerInput {
  chargerId: string;
  installationId: string;
  nodeId: string;
  now: number;
  heartbeatIntervalS: number;
  livenessGraceS?: number;
  needsPasswordRotation: boolean;
}

export type ChargerEvent =
  /** The charger booted; the machine decides the answer (read it with `registrationOf`). */
  | { type: 'BOOT'; installationKnown: boolean; at: number }
  /** Only asked with `callAllowed` (`snapshot.can`), never sent: calls are too frequent for an actor step each. */
  | { type: 'CALL'; action: string; at: number }
  | { type: 'SEEN'; at: number }
  /** Sent by the node once per heartbeat interval + grace (livenessPeriodMs) per charger. */
  | { type: 'LIVENESS_CHECK'; at: number }
  | { type: 'STATUS'; connector: ConnectorState; at: number }
  | { type: 'TX_STARTED'; tx: ActiveTransaction; at: number }
  | { type: 'TX_STOPPED'; transactionId: number; at: number }
  | { type: 'METER'; measured: ChargerLiveStatus['measured']; energyWh?: number; at: number }
  | { type: 'FIRMWARE_STATUS'; status: string; at: number }
  | { type: 'DIAGNOSTICS_STATUS'; status: string; at: number };

export type ChargerEmitted =
  | { type: 'registrationChanged'; registration: Registration }
  | { type: 'silent'; lastSeen: number }
  | { type: 'alive' }
  | { type: 'passwordRotated' }
  | { type: 'passwordRotationFailed'; error: unknown };

const DEFAULT_GRACE_S = 30;

// Shared and frozen: the record actions replace these objects, never change them, and each idle
// charger held three empty objects of its own (about 150 bytes).
const NO_CONNECTORS: ChargerContext['connectors'] = Object.freeze({});
const NO_TRANSACTIONS: ChargerContext['transactions'] = Object.freeze([]);
const NOTHING_MEASURED: ChargerContext['measured'] = Object.freeze({});

export const chargerMachine = setup({
  types: {
    context: {} as ChargerContext,
    events: {} as ChargerEvent,
    input: {} as ChargerInput,
    emitted: {} as ChargerEmitted,
  },
  actors: {
    // Provided by the shell: pushes a new AuthorizationKey and confirms it in the credential store.
    rotatePassword: fromPromise<void, { chargerId: string }>(async () => {
      throw new Error('rotatePassword not provided');
    }),
  },
  guards: {
    // A charger without an installation is refused; one still being provisioned waits (Pending).
    installationUnknown: (_, params: { installationKnown: boolean }) => !params.installationKnown,
    provisioning: stateIn('#charger.credentials.rotating'),
    isBootCall: ({ event }) => event.type === 'CALL' && event.action === 'BootNotification',
    needsPasswordRotation: ({ context }) => context.needsPasswordRotation,
    seenSinceCheckpoint: ({ context }) => context.lastSeen > context.livenessCheckpoint,
  },
  actions: {
    // Every message from the charger proves it alive.
    // Never backwards: the session forwards periodic calls (SEEN) later than events that came after them.
    touch: assign({ lastSeen: ({ context }, params: { at: number }) => Math.max(context.lastSeen, params.at) }),
    checkpoint: assign({ livenessCheckpoint: ({ context }) => context.lastSeen }),
    announceRegistration: emit((_, params: { registration: Registration }) => ({ type: 'registrationChanged' as const, registration: params.registration })),
    recordConnector: assign({
      connectors: ({ context }, params: { connector: ConnectorState }) => ({ ...context.connectors, [params.connector.connectorId]: params.connector }),
    }),
    recordTxStart: assign({
      transactions: ({ context }, params: { tx: ActiveTransaction }) => [...withoutTransaction(context.transactions, params.tx.transactionId), params.tx].sort((a, b) => a.transactionId - b.transactionId),
    }),
    recordTxStop: assign({
      transactions: ({ context }, params: { transactionId: number }) => withoutTransaction(context.transactions, params.transactionId),
    }),
    recordMeter: assign({
      measured: ({ context }, params: { measured: ChargerLiveStatus['measured']; energyWh?: number }) => ({ ...context.measured, ...params.measured }),
      energyWh: ({ context }, params: { measured: ChargerLiveStatus['measured']; energyWh?: number }) => params.energyWh ?? context.energyWh,
    }),
    recordFirmware: assign({ firmwareStatus: (_, params: { status: string }) => params.status }),
    recordDiagnostics: assign({ diagnosticsStatus: (_, params: { status: string }) => params.status }),
    announceSilent: emit(({ context }) => ({ type: 'silent' as const, lastSeen: context.lastSeen })),
    announceAlive: emit({ type: 'alive' as const }),
    announceRotated: emit({ type: 'passwordRotated' as const }),
    announceRotationFailed: emit((_, params: { error: unknown }) => ({ type: 'passwordRotationFailed' as const, error: params.error })),
  },
}).createMachine({
  id: 'charger',
  type: 'parallel',
  context: ({ input }) => ({
    chargerId: input.chargerId,
    installationId: input.installationId,
    nodeId: input.nodeId,
    connectedAt: input.now,
    lastSeen: input.now,
    livenessCheckpoint: input.now,
    heartbeatIntervalS: input.heartbeatIntervalS,
    livenessGraceS: input.livenessGraceS ?? DEFAULT_GRACE_S,
    connectors: NO_CONNECTORS,
    transactions: NO_TRANSACTIONS,
    measured: NOTHING_MEASURED,
    needsPasswordRotation: input.needsPasswordRotation,
  }),
  on: {
    // OCPP 1.6 §4.2: while Rejected, a charger may only boot.
    CALL: {
      guard: or([not(stateIn('#charger.registration.rejected')), 'isBootCall']),
      actions: { type: 'touch', params: ({ event }) => event },
    },
    STATUS: { actions: [{ type: 'touch', params: ({ event }) => event }, { type: 'recordConnector', params: ({ event }) => event }] },
    TX_STARTED: { actions: [{ type: 'touch', params: ({ event }) => event }, { type: 'recordTxStart', params: ({ event }) => event }] },
    TX_STOPPED: { actions: [{ type: 'touch', params: ({ event }) => event }, { type: 'recordTxStop', params: ({ event }) => event }] },
    METER: { actions: [{ type: 'touch', params: ({ event }) => event }, { type: 'recordMeter', params: ({ event }) => event }] },
    FIRMWARE_STATUS: { actions: [{ type: 'touch', params: ({ event }) => event }, { type: 'recordFirmware', params: ({ event }) => event }] },
    DIAGNOSTICS_STATUS: { actions: [{ type: 'touch', params: ({ event }) => event }, { type: 'recordDiagnostics', params: ({ event }) => event }] },
    SEEN: { actions: { type: 'touch', params: ({ event }) => event } },
  },
  states: {
    registration: {
      initial: 'unknown',
      on: {
        BOOT: [
          {
            guard: { type: 'installationUnknown', params: ({ event }) => event },
            target: '.rejected',
            actions: [{ type: 'touch', params: ({ event }) => event }],
          },
          { guard: 'provisioning', target: '.pending', actions: [{ type: 'touch', params: ({ event }) => event }] },
          { target: '.accepted', actions: [{ type: 'touch', params: ({ event }) => event }] },
        ],
      },
      states: {
        unknown: {},
        accepted: {
          entry: { type: 'announceRegistration', params: { registration: 'Accepted' } },
        },
        pending: {
          entry: { type: 'announceRegistration', params: { registration: 'Pending' } },
        },
        rejected: {
          entry: { type: 'announceRegistration', params: { registration: 'Rejected' } },
        },
      },
    },
    liveness: {
      initial: 'alive',
      states: {
        // Checked once per interval (+ grace) rather than re-armed on every message, which would cost
        // a timer reschedule per message: a charger is silent after one to two intervals without a
        // word. The node sends the checks (one timer per node, not a delayed event per actor: those
        // cost a timer each, and stopping an actor scans every delayed event of its actor system).
        alive: {
          entry: 'checkpoint',
          on: {
            LIVENESS_CHECK: [
              { guard: 'seenSinceCheckpoint', target: 'alive', reenter: true },
              { target: 'silent', actions: 'announceSilent' },
            ],
          },
        },
        silent: {
          entry: 'checkpoint',
          always: { guard: 'seenSinceCheckpoint', target: 'alive', actions: 'announceAlive' },
        },
      },
    },
    credentials: {
      initial: 'checking',
      states: {
        checking: {
          always: [{ guard: 'needsPasswordRotation', target: 'rotating' }, { target: 'settled' }],
        },
        rotating: {
          invoke: {
            src: 'rotatePassword',
            input: ({ context }) => ({ chargerId: context.chargerId }),
            onDone: { target: 'settled', actions: ['announceRotated', assign({ needsPasswordRotation: false })] },
            onError: { target: 'settled', actions: { type: 'announceRotationFailed', params: ({ event }) => ({ error: event.error }) } },
          },
        },
        settled: {},
      },
    },
  },
});

export type ChargerSnapshot = SnapshotFrom<typeof chargerMachine>;

/** How often a charger's liveness is checked (LIVENESS_CHECK): its heartbeat interval plus grace. */
export function livenessPeriodMs(input: Pick<ChargerInput, 'heartbeatIntervalS' | 'livenessGraceS'>): number {
  return (input.heartbeatIntervalS + (input.livenessGraceS ?? DEFAULT_GRACE_S)) * 1000;
}

// A reconnecting charger often skips BootNotification; it is served (Unknown) until it says otherwise.
const REGISTRATIONS: Record<string, Registration> = { unknown: 'Unknown', accepted: 'Accepted', pending: 'Pending', rejected: 'Rejected' };

/** The registration is the state of the registration region, nothing else. */
export function registrationOf(snapshot: ChargerSnapshot): Registration {
  return REGISTRATIONS[(snapshot.value as { registration: string }).registration] ?? 'Unknown';
}

// Asking the machine costs about half an actor step, so its answers are kept, once per node: the
// CALL guard reads only the registration state and the action (not the context), so every charger in
// the same registration state gets the same answer. Keyed by the state, not the snapshot: a cache per
// snapshot kept a Map per charger, and the session held its last snapshot past the next step.
// Two levels (state, then action) rather than one key made of both: building and hashing that string
// on every call cost more than the lookups.
const allowedByState = new Map<string, Map<string, boolean>>();

/** Whether the machine lets the charger make this call now (its guard on CALL). */
export function callAllowed(snapshot: ChargerSnapshot, action: string): boolean {
  return callAllowedIn(registrationStateOf(snapshot), action, { getSnapshot: () => snapshot });
}

/** The state of the registration region (`unknown`, `accepted`, `pending`, `rejected`). */
export function registrationStateOf(snapshot: ChargerSnapshot): string {
  return (snapshot.value as { registration: string }).registration;
}

/**
 * `callAllowed` for a registration state the caller knows (it is the actor's current one): the
 * actor's snapshot is read only the first time a state and an action meet on this node.
 */
export function callAllowedIn(state: string, action: string, actor: { getSnapshot(): ChargerSnapshot }): boolean {
  let byAction = allowedByState.get(state);
  if (byAction === undefined) allowedByState.set(state, (byAction = new Map()));
  let allowed = byAction.get(action);
  if (allowed === undefined) byAction.set(action, (allowed = actor.getSnapshot().can({ type: 'CALL', action, at: 0 })));
  return allowed;
}

/** `seenAt`: a later sign of life the actor has not heard of yet (the session forwards those at its liveness checks). */
export function liveStatus(snapshot: ChargerSnapshot, seenAt = 0): ChargerLiveStatus {
  const ctx = snapshot.context;
  return {
    chargerId: ctx.chargerId,
    installationId: ctx.installationId,
    nodeId: ctx.nodeId,
    connectedAt: new Date(ctx.connectedAt).toISOString(),
    lastSeen: new Date(Math.max(ctx.lastSeen, seenAt)).toISOString(),
    registration: registrationOf(snapshot),
    connectors: Object.values(ctx.connectors).sort((a, b) => a.connectorId - b.connectorId),
    measured: ctx.measured,
    ...(ctx.energyWh !== undefined ? { energyWh: ctx.energyWh } : {}),
    activeTransactions: [...ctx.transactions],
  };
}

function withoutTransaction(transactions: ChargerContext['transactions'], transactionId: number): ChargerContext['transactions'] {
  const rest = transactions.filter((t) => t.transactionId !== transactionId);
  return rest.length === 0 ? NO_TRANSACTIONS : rest;
}

export type ChargerMachine = typeof chargerMachine;
