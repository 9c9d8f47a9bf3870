import { assign, emit, fromPromise, setup } from 'xstate';
import type { ActiveTransaction, ChargerLiveStatus, ConnectorState } from '../core/model.js';

/**
 * One charger's OCPP session as data: registration (BootNotification answers), its connectors and
 * transactions, liveness, and the rotation of its Basic-auth password. No I/O here: the session shell
 * (`charger-session.ts`) does the I/O, sends the facts in as events, and listens to what the machine
 * emits. The password rotation is an invoked actor the shell provides.
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
  registration: Registration;
  heartbeatIntervalS: number;
  livenessGraceS: number;
  connectors: Record<number, ConnectorState>;
  transactions: Record<number, ActiveTransaction>;
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
  | { type: 'BOOT'; status: 'Accepted' | 'Pending' | 'Rejected'; at: number }
  | { type: 'SEEN'; at: number }
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
  delays: {
    // Checked once per interval (+ grace) rather than re-armed on every message, which would cost a
    // timer reschedule per message: a charger is silent after one to two intervals without a word.
    livenessTimeout: ({ context }) => (context.heartbeatIntervalS + context.livenessGraceS) * 1000,
  },
  guards: {
    bootAccepted: (_, params: { status: string }) => params.status === 'Accepted',
    bootPending: (_, params: { status: string }) => params.status === 'Pending',
    needsPasswordRotation: ({ context }) => context.needsPasswordRotation,
    seenSinceCheckpoint: ({ context }) => context.lastSeen > context.livenessCheckpoint,
  },
  actions: {
    // Every message from the charger proves it alive.
    touch: assign({ lastSeen: (_, params: { at: number }) => params.at }),
    checkpoint: assign({ livenessCheckpoint: ({ context }) => context.lastSeen }),
    setRegistration: assign({ registration: (_, params: { registration: Registration }) => params.registration }),
    announceRegistration: emit((_, params: { registration: Registration }) => ({ type: 'registrationChanged' as const, registration: params.registration })),
    recordConnector: assign({
      connectors: ({ context }, params: { connector: ConnectorState }) => ({ ...context.connectors, [params.connector.connectorId]: params.connector }),
    }),
    recordTxStart: assign({
      transactions: ({ context }, params: { tx: ActiveTransaction }) => ({ ...context.transactions, [params.tx.transactionId]: params.tx }),
    }),
    recordTxStop: assign({
      transactions: ({ context }, params: { transactionId: number }) => {
        const { [params.transactionId]: _gone, ...rest } = context.transactions;
        return rest;
      },
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
    // A reconnecting charger often skips BootNotification; it is served until it says otherwise.
    registration: 'Unknown',
    heartbeatIntervalS: input.heartbeatIntervalS,
    livenessGraceS: input.livenessGraceS ?? DEFAULT_GRACE_S,
    connectors: {},
    transactions: {},
    measured: {},
    needsPasswordRotation: input.needsPasswordRotation,
  }),
  on: {
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
            guard: { type: 'bootAccepted', params: ({ event }) => event },
            target: '.accepted',
            actions: [{ type: 'touch', params: ({ event }) => event }],
          },
          {
            guard: { type: 'bootPending', params: ({ event }) => event },
            target: '.pending',
            actions: [{ type: 'touch', params: ({ event }) => event }],
          },
          { target: '.rejected', actions: [{ type: 'touch', params: ({ event }) => event }] },
        ],
      },
      states: {
        unknown: {},
        accepted: {
          entry: [
            { type: 'setRegistration', params: { registration: 'Accepted' } },
            { type: 'announceRegistration', params: { registration: 'Accepted' } },
          ],
        },
        pending: {
          entry: [
            { type: 'setRegistration', params: { registration: 'Pending' } },
            { type: 'announceRegistration', params: { registration: 'Pending' } },
          ],
        },
        rejected: {
          entry: [
            { type: 'setRegistration', params: { registration: 'Rejected' } },
            { type: 'announceRegistration', params: { registration: 'Rejected' } },
          ],
        },
      },
    },
    liveness: {
      initial: 'alive',
      states: {
        alive: {
          entry: 'checkpoint',
          after: {
            livenessTimeout: [
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

/** Calls a charger may make in each registration state (OCPP 1.6 §4.2: only boot while Rejected). */
export function callAllowed(registration: Registration, action: string): boolean {
  if (registration === 'Rejected') return action === 'BootNotification';
  return true;
}

export function liveStatus(ctx: ChargerContext): ChargerLiveStatus {
  return {
    chargerId: ctx.chargerId,
    installationId: ctx.installationId,
    nodeId: ctx.nodeId,
    connectedAt: new Date(ctx.connectedAt).toISOString(),
    lastSeen: new Date(ctx.lastSeen).toISOString(),
    registration: ctx.registration,
    connectors: Object.values(ctx.connectors).sort((a, b) => a.connectorId - b.connectorId),
    measured: ctx.measured,
    ...(ctx.energyWh !== undefined ? { energyWh: ctx.energyWh } : {}),
    activeTransactions: Object.values(ctx.transactions),
  };
}

export type ChargerMachine = typeof chargerMachine;
