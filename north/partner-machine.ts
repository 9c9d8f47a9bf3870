import { assign, emit, fromCallback, fromPromise, setup } from 'xstate';
import { reconnectDelayMs } from '../ocpp/partner-client.js';

/**
 * One charger's session at the partner's Central System, as data: connecting with backoff, booting
 * (Accepted / Pending / Rejected and the interval the partner gives), heartbeats at the partner's
 * interval, reporting connector statuses and delivering the transaction queue while Accepted. No I/O
 * here: the shell (`partner-session.ts`) provides the invoked actors (the connection, the calls, the
 * queue delivery) with `.provide()` and listens to what the machine emits.
 */

export type PartnerRegistration = 'Unknown' | 'Accepted' | 'Pending' | 'Rejected';

export interface PartnerTiming {
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** Heartbeat interval when the partner answers 0. */
  defaultHeartbeatS: number;
  /** Boot retry after a failed BootNotification, or Pending/Rejected with interval 0. */
  bootRetryS: number;
}

export interface PartnerContext {
  chargerId: string;
  timing: PartnerTiming;
  random: () => number;
  /** Failed connection attempts since the last Accepted boot: the backoff exponent. */
  attempt: number;
  registration: PartnerRegistration;
  heartbeatIntervalS: number;
  /** Pending/Rejected: seconds until the next BootNotification. */
  retryIntervalS: number;
  /** The wait before the next connection attempt, drawn when the last one failed (the status shows it). */
  retryDelayMs: number;
  lastError?: string;
  /** Why the last BootNotification failed (no answer, CALLERROR). */
  bootError?: string;
}

export interface PartnerInput {
  chargerId: string;
  timing: PartnerTiming;
  random?: () => number;
}

export interface BootAnswer {
  status: 'Accepted' | 'Pending' | 'Rejected';
  interval: number;
}

export type PartnerEvent =
  | { type: 'OPENED' }
  | { type: 'CLOSED'; reason: string }
  /** The real charger booted again: boot again at the partner with what it reported. */
  | { type: 'CHARGER_BOOTED' }
  /** Credentials or URL changed: close and connect again now. */
  | { type: 'RECONNECT' }
  /** The partner changed HeartbeatInterval or asked for a boot / heartbeat (TriggerMessage). */
  | { type: 'SET_HEARTBEAT'; intervalS: number }
  | { type: 'TRIGGER_BOOT' }
  | { type: 'TRIGGER_HEARTBEAT' };

export type PartnerEmitted =
  | { type: 'registrationChanged'; registration: PartnerRegistration }
  | { type: 'disconnected'; reason: string; attempt: number };

export const partnerMachine = setup({
  types: {
    context: {} as PartnerContext,
    events: {} as PartnerEvent,
    input: {} as PartnerInput,
    emitted: {} as PartnerEmitted,
  },
  actors: {
    // Provided by the shell. Opens the socket, sends OPENED / CLOSED back; stopping it closes the socket.
    connection: fromCallback<PartnerEvent, { chargerId: string }>(() => {
      throw new Error('connection not provided');
    }),
    boot: fromPromise<BootAnswer, { chargerId: string }>(async () => {
      throw new Error('boot not provided');
    }),
    heartbeat: fromPromise<void, { chargerId: string }>(async () => {
      throw new Error('heartbeat not provided');
    }),
    // StatusNotification for every connector, from the platform's state.
    reportStatus: fromPromise<void, { chargerId: string }>(async () => {
      throw new Error('reportStatus not provided');
    }),
    // Delivers the durable transaction queue until stopped.
    deliverQueue: fromCallback<PartnerEvent, { chargerId: string }>(() => {
      throw new Error('deliverQueue not provided');
    }),
  },
  delays: {
    reconnectDelay: ({ context }) => context.retryDelayMs,
    heartbeatDelay: ({ context }) => context.heartbeatIntervalS * 1000,
    registrationRetry: ({ context }) => context.retryIntervalS * 1000,
    bootRetry: ({ context }) => context.timing.bootRetryS * 1000,
  },
  guards: {
    accepted: (_, params: { status: string }) => params.status === 'Accepted',
    pending: (_, params: { status: string }) => params.status === 'Pending',
  },
  actions: {
    setRegistration: assign({ registration: (_, params: { registration: PartnerRegistration }) => params.registration }),
    announceRegistration: emit((_, params: { registration: PartnerRegistration }) => ({ type: 'registrationChanged' as const, registration: params.registration })),
    acceptBoot: assign({
      heartbeatIntervalS: ({ context }, params: BootAnswer) => (params.interval > 0 ? params.interval : context.timing.defaultHeartbeatS),
      attempt: 0,
    }),
    holdBoot: assign({ retryIntervalS: ({ context }, params: BootAnswer) => (params.interval > 0 ? params.interval : context.timing.bootRetryS) }),
    setHeartbeat: assign({ heartbeatIntervalS: ({ context }, params: { intervalS: number }) => (params.intervalS > 0 ? params.intervalS : context.timing.defaultHeartbeatS) }),
    countFailure: assign(({ context }, params: { reason: string }) => {
      const attempt = context.attempt + 1;
      const { reconnectMinMs, reconnectMaxMs } = context.timing;
      return { attempt, lastError: params.reason, retryDelayMs: reconnectDelayMs(attempt - 1, reconnectMinMs, reconnectMaxMs, context.random) };
    }),
    noteBootError: assign({ bootError: (_, params: { error: unknown }) => (params.error instanceof Error ? params.error.message : String(params.error)) }),
    announceDisconnected: emit(({ context }) => ({ type: 'disconnected' as const, reason: context.lastError ?? '', attempt: context.attempt })),
  },
}).createMachine({
  id: 'partner',
  context: ({ input }) => ({
    chargerId: input.chargerId,
    timing: input.timing,
    random: input.random ?? Math.random,
    attempt: 0,
    registration: 'Unknown',
    heartbeatIntervalS: input.timing.defaultHeartbeatS,
    retryIntervalS: input.timing.bootRetryS,
    retryDelayMs: 0,
  }),
  on: {
    SET_HEARTBEAT: { actions: { type: 'setHeartbeat', params: ({ event }) => event } },
  },
  initial: 'online',
  states: {
    offline: {
      entry: [{ type: 'setRegistration', params: { registration: 'Unknown' } }, 'announceDisconnected'],
      after: { reconnectDelay: 'online' },
      on: { RECONNECT: 'online' },
    },
    online: {
      invoke: { src: 'connection', input: ({ context }) => ({ chargerId: context.chargerId }) },
      on: {
        CLOSED: { target: 'offline', actions: { type: 'countFailure', params: ({ event }) => event } },
        RECONNECT: { target: 'online', reenter: true },
      },
      initial: 'opening',
      states: {
        opening: { on: { OPENED: 'booting' } },
        booting: {
          invoke: {
            src: 'boot',
            input: ({ context }) => ({ chargerId: context.chargerId }),
            onDone: [
              { guard: { type: 'accepted', params: ({ event }) => event.output }, target: 'accepted', actions: { type: 'acceptBoot', params: ({ event }) => event.output } },
              { guard: { type: 'pending', params: ({ event }) => event.output }, target: 'pending', actions: { type: 'holdBoot', params: ({ event }) => event.output } },
              { target: 'rejected', actions: { type: 'holdBoot', params: ({ event }) => event.output } },
            ],
            onError: { target: 'bootFailed', actions: { type: 'noteBootError', params: ({ event }) => ({ error: event.error }) } },
          },
          on: { CHARGER_BOOTED: { target: 'booting', reenter: true } },
        },
        bootFailed: { after: { bootRetry: 'booting' } },
        pending: {
          entry: [{ type: 'setRegistration', params: { registration: 'Pending' } }, { type: 'announceRegistration', params: { registration: 'Pending' } }],
          after: { registrationRetry: 'booting' },
          on: { CHARGER_BOOTED: 'booting', TRIGGER_BOOT: 'booting' },
        },
        rejected: {
          entry: [{ type: 'setRegistration', params: { registration: 'Rejected' } }, { type: 'announceRegistration', params: { registration: 'Rejected' } }],
          after: { registrationRetry: 'booting' },
          on: { CHARGER_BOOTED: 'booting' },
        },
        accepted: {
          entry: [{ type: 'setRegistration', params: { registration: 'Accepted' } }, { type: 'announceRegistration', params: { registration: 'Accepted' } }],
          on: { CHARGER_BOOTED: 'booting', TRIGGER_BOOT: 'booting' },
          type: 'parallel',
          states: {
            heartbeat: {
              initial: 'waiting',
              states: {
                waiting: {
                  after: { heartbeatDelay: 'sending' },
                  on: { TRIGGER_HEARTBEAT: 'sending', SET_HEARTBEAT: { target: 'waiting', reenter: true, actions: { type: 'setHeartbeat', params: ({ event }) => event } } },
                },
                sending: {
                  invoke: { src: 'heartbeat', input: ({ context }) => ({ chargerId: context.chargerId }), onDone: 'waiting', onError: 'waiting' },
                },
              },
            },
            status: {
              initial: 'reporting',
              states: {
                reporting: { invoke: { src: 'reportStatus', input: ({ context }) => ({ chargerId: context.chargerId }), onDone: 'reported', onError: 'reported' } },
                reported: {},
              },
            },
            queue: {
              invoke: { src: 'deliverQueue', input: ({ context }) => ({ chargerId: context.chargerId }) },
            },
          },
        },
      },
    },
  },
});
