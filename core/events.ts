import type { NatsConnection } from '@nats-io/transport-node';
import { encodeJson } from './nats.js';
import { subjects, type EventKind } from './subjects.js';

/**
 * Events published on `evt.inst.<installationId>.charger.<chargerId>.<kind>` by the node holding the
 * charger's socket. Currents are per charger terminal (t1..t3 = the charger's own L1..L3 as its meter
 * reports them); the balancer maps terminals to grid phases through the charger's wiring.
 */
export interface TerminalCurrents {
  t1?: number;
  t2?: number;
  t3?: number;
}

export interface ConnectorStatusEvent {
  kind: 'status';
  chargerId: string;
  installationId: string;
  connectorId: number;
  status: string;
  errorCode: string;
  info?: string;
  vendorErrorCode?: string;
  timestamp: string;
}

export interface MeterEvent {
  kind: 'meter';
  chargerId: string;
  installationId: string;
  connectorId: number;
  transactionId?: number;
  currents: TerminalCurrents;
  /** Offered current the charger reports (Current.Offered), if any. */
  offered?: number;
  powerW?: number;
  energyWh?: number;
  timestamp: string;
}

export interface ConnectionEvent {
  kind: 'connection';
  chargerId: string;
  installationId: string;
  nodeId: string;
  connected: boolean;
  /** Distinguishes connections of the same charger, so a node can tell an older socket from a newer. */
  connectionId: string;
  at: string;
}

export interface TransactionEvent {
  kind: 'transaction';
  chargerId: string;
  installationId: string;
  transactionId: number;
  connectorId: number;
  event: 'started' | 'stopped';
  at: string;
}

export interface BootEvent {
  kind: 'boot';
  chargerId: string;
  installationId: string;
  status: 'Accepted' | 'Pending' | 'Rejected';
  at: string;
}

export type ChargerEvent = ConnectorStatusEvent | MeterEvent | ConnectionEvent | TransactionEvent | BootEvent;

export function publishChargerEvent(nc: NatsConnection, event: ChargerEvent): void {
  nc.publish(subjects.chargerEvent(event.installationId, event.chargerId, event.kind as EventKind), encodeJson(event));
}
