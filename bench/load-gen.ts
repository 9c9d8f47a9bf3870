import { Child } from './children.js';
import { CHARGER_PASSWORD, CHARGER_PREFIX } from './platform-fleet.js';

/** Starts `bench/load-client.ts` in its own process. */

export type RoundTripMode = 'heartbeat' | 'metervalues';

export interface LoadParams {
  name: string;
  urlTemplate: string;
  from: number;
  count: number;
  /** `idle`, or round-trip modes run one after the other on the same connections. */
  mode: 'idle' | readonly RoundTripMode[];
  durationS?: number;
  warmupS?: number;
  batch?: number;
  boot?: boolean;
}

export interface ConnectedReport {
  attempted: number;
  connected: number;
  failed: number;
  failures: Record<string, number>;
  connectMs: number;
}

export interface RoundTripReport {
  mode: RoundTripMode;
  clients: number;
  seconds: number;
  answered: number;
  ok: number;
  echo: number;
  error: number;
  timeout: number;
  closed: number;
  rate: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** Calls the server sent to the chargers during the counted window. */
  serverCalls: number;
  closedUnexpectedly: number;
  firstError: string | null;
}

export function spawnLoadClient(p: LoadParams): Child {
  const args = [
    `--url=${p.urlTemplate}`,
    `--prefix=${CHARGER_PREFIX}`,
    `--from=${p.from}`,
    `--count=${p.count}`,
    `--password=${CHARGER_PASSWORD}`,
    `--mode=${typeof p.mode === 'string' ? p.mode : p.mode.join(',')}`,
    `--duration=${p.durationS ?? 10}`,
    `--warmup=${p.warmupS ?? 2}`,
    `--batch=${p.batch ?? 500}`,
    ...(p.boot ? ['--boot'] : []),
  ];
  return new Child({ name: p.name, script: 'bench/load-client.ts', args });
}

export const isEvent =
  (event: string) =>
  (v: Record<string, unknown>): boolean =>
    v.event === event;
