/**
 * Every NATS subject, KV bucket and stream of the platform, named once.
 * Ids used in subjects are validated (see `core/ids.ts`) so they never contain `.`, `*`, `>` or spaces.
 */

export type EventKind = 'status' | 'meter' | 'transaction' | 'connection' | 'boot' | 'limit';

export const subjects = {
  /** Published by the node that holds a charger's socket. */
  chargerEvent: (installationId: string, chargerId: string, kind: EventKind) =>
    `evt.inst.${installationId}.charger.${chargerId}.${kind}`,
  /** Every charger event of one installation (the balancer's input). */
  installationEvents: (installationId: string) => `evt.inst.${installationId}.>`,
  /** Every charger event of every installation. */
  allChargerEvents: 'evt.inst.>',
  /** Request/reply to whichever node holds the charger's socket. No responder = not connected. */
  chargerCommand: (chargerId: string) => `cmd.charger.${chargerId}`,
  /** Dynamic available current from an energy manager (also stored in KV with its expiry). */
  availableCurrent: (installationId: string) => `evt.inst.${installationId}.available-current`,
  /** Request/reply answered by the node leading an installation's balancer: its live allocation. */
  balancerStatus: (installationId: string) => `balancer.status.${installationId}`,
  /** Transactions stream subjects. */
  txStart: (chargerId: string) => `tx.start.${chargerId}`,
  txStop: (chargerId: string) => `tx.stop.${chargerId}`,
  txOfCharger: (chargerId: string) => `tx.*.${chargerId}`,
  txAll: 'tx.>',
  /** OCPP message log stream subjects. */
  ocppLog: (chargerId: string) => `ocpplog.${chargerId}`,
  ocppLogAll: 'ocpplog.>',
  /** A charger's partner (north) session log: same stream, one level below the charger's own log. */
  partnerOcppLog: (chargerId: string) => `ocpplog.${chargerId}.north`,
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
  /** Balancer leadership of one installation: `{ nodeId, expiresAt }` (nodeId empty when released). */
  balancerPrefix: 'balancer.',
  balancer: (installationId: string) => `balancer.${installationId}`,
  /** A node's presence, renewed with its leases: the live nodes balancers spread over. */
  presencePrefix: 'node.',
  presence: (nodeId: string) => `node.${nodeId}`,
} as const;

export const streams = {
  transactions: 'TRANSACTIONS',
  ocppLog: 'OCPP_LOG',
  northQueue: 'NORTH_QUEUE',
} as const;

export type BucketName = (typeof buckets)[keyof typeof buckets];
