/**
 * Every NATS subject, KV bucket and stream of the platform, named once.
 * Ids used in subjects are validated (see `core/ids.ts`) so they never contain `.`, `*`, `>` or spaces.
 */

import { placementGroup } from './placement-groups.js';

export type EventKind = 'status' | 'meter' | 'transaction' | 'connection' | 'boot' | 'limit';

const TX_START = 'tx.start.';

export const subjects = {
  /** Published by the node that holds a charger's socket. */
  chargerEvent: (installationId: string, chargerId: string, kind: EventKind) =>
    `evt.inst.${installationId}.charger.${chargerId}.${kind}`,
  /** Every charger event of one installation (the balancer's input), and nothing else. */
  installationEvents: (installationId: string) => `evt.inst.${installationId}.charger.>`,
  /** Every charger event of every installation. */
  allChargerEvents: 'evt.inst.*.charger.>',
  /** Request/reply to whichever node holds the charger's socket. No responder = not connected. */
  chargerCommand: (chargerId: string) => `cmd.charger.${chargerId}`,
  /**
   * Dynamic available current from an energy manager (also stored in KV with its expiry). Its own
   * subject tree: a charger-event subscriber never sees it, so nobody filters subjects by substring.
   */
  availableCurrent: (installationId: string) => `energy.inst.${installationId}.available-current`,
  /**
   * A grid meter reading of one circuit (`main`: the installation's fuse): `{ L1, L2, L3, at? }` in A,
   * everything on the circuit, chargers included. Meter gateways (Modbus, MQTT bridges) publish here;
   * `PUT /installations/{id}/circuits/{circuitId}/meter` publishes the same.
   */
  meterReading: (installationId: string, circuitId: string) => `meter.inst.${installationId}.circuit.${circuitId}`,
  /** Every meter reading of one installation (its balancer's input). */
  installationMeterReadings: (installationId: string) => `meter.inst.${installationId}.circuit.*`,
  /** Request/reply answered by the node leading an installation's balancer: its live allocation. */
  balancerStatus: (installationId: string) => `balancer.status.${installationId}`,
  /**
   * Transactions stream subjects: starts by installation and charger, stops by the start's
   * installation, charger and transaction id (one lookup per stop).
   */
  txStart: (installationId: string, chargerId: string) => `${TX_START}${installationId}.${chargerId}`,
  txStop: (installationId: string, chargerId: string, transactionId: number) => `tx.stop.${installationId}.${chargerId}.${transactionId}`,
  isTxStart: (subject: string) => subject.startsWith(TX_START),
  txStarts: 'tx.start.*.*',
  txStartsOfInstallation: (installationId: string) => `tx.start.${installationId}.*`,
  txStartsOfCharger: (chargerId: string) => `tx.start.*.${chargerId}`,
  /** Records of the first layout (`tx.start.<chargerId>`, `tx.stop.<chargerId>`): read, never written. */
  txLegacy: 'tx.*.*',
  txLegacyOfCharger: (chargerId: string) => `tx.*.${chargerId}`,
  txAll: 'tx.>',
  /** OCPP message log stream subjects. */
  ocppLog: (chargerId: string) => `ocpplog.${chargerId}`,
  ocppLogAll: 'ocpplog.>',
  /** A charger's partner (north) session log: same stream, one level below the charger's own log. */
  partnerOcppLog: (chargerId: string) => `ocpplog.${chargerId}.north`,
  /**
   * A charger's partner connection state (`core/partner-connection.ts`): request/reply answered by the
   * node whose partner bridge has the charger (its session, or why it has none). No responder = no
   * node has it. Its own tree: `north.>` belongs to the outbound queue stream.
   */
  partnerConnection: (chargerId: string) => `partner.conn.${chargerId}`,
  /** Published by that node whenever the state changes (pages watching the installation refresh). */
  partnerConnectionChanged: (installationId: string, chargerId: string) => `partner.changed.${installationId}.${chargerId}`,
  partnerConnectionChanges: (installationId: string) => `partner.changed.${installationId}.*`,
  /** North (partner) outbound queue. */
  northQueue: (chargerId: string) => `north.${chargerId}`,
  northQueueAll: 'north.>',
} as const;

export const buckets = {
  installations: 'installations',
  chargers: 'chargers',
  /** South password hashes and north secrets, never returned by the API. */
  credentials: 'credentials',
  /** Last limit each charger accepted: the balancer's memory across failover. */
  allocations: 'allocations',
  /** Balancer leadership and charger-socket ownership. */
  leases: 'leases',
  /** Last boot information and registration state of each charger. */
  chargerState: 'charger-state',
  /** Dynamic available current per installation, with its expiry. */
  availableCurrent: 'available-current',
  /** Per-charger current caps from a partner SetChargingProfile or the API; the balancer respects them. */
  caps: 'caps',
  /** North (partner) session state per charger: partner transaction ids, virtual configuration. */
  north: 'north',
  /** API tokens (hashed) with their scope. */
  tokens: 'tokens',
} as const;

/** Keys in the leases bucket. */
export const leaseKeys = {
  /**
   * Balancer leadership of one placement group (`core/placement-groups.ts`), so of every
   * installation in it: `{ nodeId, expiresAt }` (nodeId empty when released). Keys `balancer.<id>`
   * of the per-installation leases before groups are ignored.
   */
  groupPrefix: 'balancer-group.',
  group: (group: number) => `balancer-group.${group}`,
  /** The lease key of an installation's group. */
  balancerOf: (installationId: string) => `balancer-group.${placementGroup(installationId)}`,
  /** A node's presence, renewed with its leases: the live nodes balancers spread over. */
  presencePrefix: 'node.',
  presence: (nodeId: string) => `node.${nodeId}`,
} as const;

export const streams = {
  transactions: 'TRANSACTIONS',
  ocppLog: 'OCPP_LOG',
  northQueue: 'NORTH_QUEUE',
} as const;

const NORTH_CREDENTIAL = { charger: 'charger-north', installation: 'inst-north' } as const;

/** Keys inside the KV buckets (ids are validated, so a key never holds a stray `.`). */
export const kvKeys = {
  credentials: {
    installationSouth: (id: string) => `inst-south.${id}`,
    installationNorth: (id: string) => `${NORTH_CREDENTIAL.installation}.${id}`,
    chargerSouth: (id: string) => `charger-south.${id}`,
    chargerNorth: (id: string) => `${NORTH_CREDENTIAL.charger}.${id}`,
    /** Watch patterns of every north secret (the partner bridge reconnects when one changes). */
    northWatch: [`${NORTH_CREDENTIAL.charger}.*`, `${NORTH_CREDENTIAL.installation}.*`],
    /** Whose north secret a key holds, or undefined for any other key. */
    parseNorth(key: string): { scope: 'charger' | 'installation'; id: string } | undefined {
      const [prefix, id] = key.split('.', 2);
      if (!id) return undefined;
      if (prefix === NORTH_CREDENTIAL.charger) return { scope: 'charger', id };
      if (prefix === NORTH_CREDENTIAL.installation) return { scope: 'installation', id };
      return undefined;
    },
  },
  chargerState: {
    boot: (chargerId: string) => `boot.${chargerId}`,
  },
  /** The partner bridge's memory per charger. */
  north: {
    tx: (chargerId: string, transactionId: number) => `tx.${chargerId}.${transactionId}`,
    ptx: (chargerId: string, partnerTxId: number) => `ptx.${chargerId}.${partnerTxId}`,
    config: (chargerId: string) => `config.${chargerId}`,
    profiles: (chargerId: string) => `profiles.${chargerId}`,
  },
} as const;

/** Durable JetStream consumers. */
export const consumers = {
  /** The one consumer of a charger's north queue (`max_ack_pending: 1` keeps its order cluster-wide). */
  northQueue: (chargerId: string) => `north-${chargerId}`,
} as const;

export type BucketName = (typeof buckets)[keyof typeof buckets];
