import type { HeapRow } from './heap-bench.js';
import type { IdleRow } from './idle-bench.js';
import type { RoundTripRow } from './round-trip-bench.js';
import { PEER_LABEL } from './servers.js';

/**
 * Issue 14's targets, each figure beside the peer (ocpp-rpc) and the ceiling (raw ws) of the same
 * run. CPU time per round trip is the figure to trust on a shared machine (rates move with whatever
 * else runs); the ratios, not the absolute numbers, are what the targets are about.
 */

export interface TargetRow {
  figure: string;
  platform: number | undefined;
  peer: number | undefined;
  ceiling: number | undefined;
  /** The ratio the target is about, as printed. */
  ratio: string;
  target: string;
  /** Undefined: not measured in this run. */
  met: boolean | undefined;
}

export interface TargetInput {
  /** The label of the platform's round-trip rows (default configuration). */
  platformLabel: string;
  roundTrips: readonly RoundTripRow[];
  idle: readonly IdleRow[];
  heap?: HeapRow | undefined;
  allocate?: unknown;
}

const CPU_RATIO_MAX = 0.75;
const PCT_OF_RAW_LONG_TERM = 80;
const RSS_MAX_KIB = 12;

const ratio = (a: number | undefined, b: number | undefined): number | undefined => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);
const fixed = (n: number | undefined, digits = 2): string => (n === undefined ? '-' : n.toFixed(digits));

export function issue14Targets(input: TargetInput): TargetRow[] {
  const rows: TargetRow[] = [];
  for (const mode of ['heartbeat', 'metervalues'] as const) {
    const find = (label: string): RoundTripRow | undefined => input.roundTrips.find((r) => r.mode === mode && r.server === label);
    const platform = find(input.platformLabel);
    const peer = find(PEER_LABEL.rpc);
    const ceiling = find(PEER_LABEL.raw);
    const name = mode === 'heartbeat' ? 'Heartbeat' : 'MeterValues';
    const cpu = ratio(platform?.serverUsPerRoundTrip, peer?.serverUsPerRoundTrip);
    rows.push({
      figure: `${name}: server CPU us per round trip`,
      platform: platform?.serverUsPerRoundTrip,
      peer: peer?.serverUsPerRoundTrip,
      ceiling: ceiling?.serverUsPerRoundTrip,
      ratio: `${fixed(cpu)}x peer`,
      target: `<= ${CPU_RATIO_MAX}x peer`,
      met: cpu === undefined ? undefined : cpu <= CPU_RATIO_MAX,
    });
    const ofRaw = ratio(platform?.rate, ceiling?.rate);
    rows.push({
      figure: `${name}: round trips/s`,
      platform: platform?.rate,
      peer: peer?.rate,
      ceiling: ceiling?.rate,
      ratio: `${ofRaw === undefined ? '-' : Math.round(ofRaw * 100)}% of raw ws, ${fixed(ratio(platform?.rate, peer?.rate))}x peer`,
      target: `>= ${PCT_OF_RAW_LONG_TERM}% of raw ws (long-term line)`,
      met: ofRaw === undefined ? undefined : ofRaw * 100 >= PCT_OF_RAW_LONG_TERM,
    });
  }
  const idle = (prefix: string): IdleRow | undefined => input.idle.find((r) => r.server.startsWith(prefix));
  const platformIdle = idle('platform cluster');
  const peerIdle = input.idle.find((r) => r.server === PEER_LABEL.rpc);
  const rawIdle = input.idle.find((r) => r.server === PEER_LABEL.raw);
  const rss = platformIdle?.perChargerKiB;
  rows.push({
    figure: 'RSS KiB per idle charger',
    platform: rss,
    peer: peerIdle?.perChargerKiB,
    ceiling: rawIdle?.perChargerKiB,
    ratio: `${fixed(ratio(rss, peerIdle?.perChargerKiB))}x peer`,
    target: `<= ${RSS_MAX_KIB} KiB and below the peer`,
    met: rss === undefined ? undefined : rss <= RSS_MAX_KIB && (peerIdle === undefined || rss < peerIdle.perChargerKiB),
  });
  rows.push({
    figure: 'JS heap KiB per idle charger',
    platform: platformIdle?.heapPerChargerKiB,
    peer: peerIdle?.heapPerChargerKiB,
    ceiling: rawIdle?.heapPerChargerKiB,
    ratio: `${fixed(ratio(platformIdle?.heapPerChargerKiB, peerIdle?.heapPerChargerKiB))}x peer`,
    target: '(no target; the steadier memory figure)',
    met: undefined,
  });
  const at1000 = allocateAt(input.allocate, 1_000);
  rows.push({
    figure: 'allocate(), 1,000 chargers, p99 ms (naive equal share as ceiling)',
    platform: at1000?.allocateP99Ms,
    peer: undefined,
    ceiling: at1000?.naiveP99Ms,
    ratio: `${fixed(ratio(at1000?.allocateP99Ms, at1000?.naiveP99Ms), 1)}x naive`,
    target: '< 1 ms',
    met: at1000 === undefined ? undefined : at1000.allocateP99Ms < 1,
  });
  return rows;
}

function allocateAt(report: unknown, chargers: number): { allocateP99Ms: number; naiveP99Ms: number } | undefined {
  const results = (report as { results?: { chargers: number; allocateP99Ms: number; naiveP99Ms: number }[] } | undefined)?.results;
  return Array.isArray(results) ? results.find((r) => r.chargers === chargers) : undefined;
}

export const verdict = (met: boolean | undefined): string => (met === undefined ? 'not measured' : met ? 'MET' : 'NOT MET');
