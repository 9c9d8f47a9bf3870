import type { NatsConnection } from '@nats-io/transport-node';
import type { ChargerCommands } from '../core/charger-commands.js';
import { STATUS_ACTION } from '../core/commands.js';
import type { MeterStatus } from '../core/meter-reading.js';
import type { Charger, ChargerLiveStatus, Installation } from '../core/model.js';
import { decodeJson, encodeJson } from '../core/nats.js';
import { PARTNER_DISABLED, requestPartnerConnection, type PartnerConnectionState } from '../core/partner-connection.js';
import { subjects } from '../core/subjects.js';

export const LIVE_STATUS_TIMEOUT_MS = 2_000;
export const BALANCER_STATUS_TIMEOUT_MS = 1_000;

/**
 * A charger's connection as far as the cluster knows: `connected` with its actor's snapshot,
 * `not-connected` (no node holds its socket), or `unknown` (a node holds it but did not answer in time,
 * which still counts as connected: something is there).
 */
export type LiveState = { state: 'connected'; status: ChargerLiveStatus } | { state: 'not-connected' } | { state: 'unknown' };

export async function liveStatus(commands: ChargerCommands, chargerId: string, timeoutMs = LIVE_STATUS_TIMEOUT_MS): Promise<LiveState> {
  try {
    const reply = await commands.send(chargerId, { action: STATUS_ACTION, payload: {}, timeoutMs });
    if (reply.ok) return { state: 'connected', status: reply.response as ChargerLiveStatus };
    return reply.error.code === 'NOT_CONNECTED' ? { state: 'not-connected' } : { state: 'unknown' };
  } catch {
    return { state: 'unknown' };
  }
}

/** What the installation's balancer leader answers on `balancer.status.<id>`. */
export interface BalancerStatusReply {
  allocated: { L1: number; L2: number; L3: number };
  chargers: Record<string, { limit: number; target?: number; reason?: string; phases?: unknown; counted?: number; countedBecause?: string; phaseMode?: unknown; phaseSwitches?: unknown }>;
  failsafe?: { inForce: boolean; since?: string; source?: string; current?: { L1: number; L2: number; L3: number } };
  /** Per-phase limits in force for the chargers (fuse - margin, lowered by a dynamic limit, a meter or a failsafe). */
  limits?: { L1: number; L2: number; L3: number };
  /** Circuits below the fuse: limits in force for their chargers and the allocation below them. */
  circuits?: { id: string; limits: Partial<Record<'L1' | 'L2' | 'L3', number>>; allocated: { L1: number; L2: number; L3: number } | null }[];
  meters?: MeterStatus[];
  /** The node running the balancer, from its own leadership state. */
  nodeId?: string;
  /** True while its lease runs out unrenewed: it sends nothing until renewed. */
  paused?: boolean;
}

/** The balancer's live allocation, or undefined when no leader answers within the timeout. */
export async function balancerStatus(nc: NatsConnection, installationId: string, timeoutMs = BALANCER_STATUS_TIMEOUT_MS): Promise<BalancerStatusReply | undefined> {
  try {
    const msg = await nc.request(subjects.balancerStatus(installationId), encodeJson({}), { timeout: timeoutMs });
    const reply = decodeJson<Partial<BalancerStatusReply>>(msg.data);
    if (typeof reply !== 'object' || reply === null || typeof reply.allocated !== 'object' || reply.allocated === null) return undefined;
    return {
      allocated: reply.allocated,
      chargers: reply.chargers ?? {},
      ...(reply.failsafe ? { failsafe: reply.failsafe } : {}),
      ...(reply.limits ? { limits: reply.limits } : {}),
      ...(reply.circuits ? { circuits: reply.circuits } : {}),
      ...(reply.meters ? { meters: reply.meters } : {}),
      ...(typeof reply.nodeId === 'string' ? { nodeId: reply.nodeId } : {}),
      ...(reply.paused === true ? { paused: true } : {}),
    };
  } catch {
    return undefined;
  }
}

/** Each charger's partner connection state: asked of the node with its session, none asked when the installation has no partner. */
export async function partnerConnections(nc: NatsConnection, installation: Installation, chargers: readonly Charger[]): Promise<Map<string, PartnerConnectionState>> {
  if (!installation.ocpp.partnerEnabled) return new Map(chargers.map((c) => [c.id, PARTNER_DISABLED]));
  return new Map(await Promise.all(chargers.map(async (c) => [c.id, await requestPartnerConnection(nc, c.id)] as const)));
}
