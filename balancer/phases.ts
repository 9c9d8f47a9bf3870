/**
 * Wiring and measurement -> which grid phases a session loads. Phase sets are bit masks
 * (L1 = 1, L2 = 2, L3 = 4) so the allocator's inner loops stay cheap. Pure, imports only types.
 */
import type { ChargerInput, Phase } from './allocation-types.js';
import { PHASES } from '../core/model.js';

/** The grid phases, in order (written once, in core/model.ts). */
export { PHASES };

export const ALL_PHASES = 0b111;
/** A terminal drawing at least this much counts as loading its phase. */
export const DRAWING_A = 1;

/** Which grid phase each charger terminal is on (index 0 = terminal 1), and the phase set. */
export interface Wiring {
  /** undefined when the wiring is unknown: measurements cannot be mapped to grid phases. */
  readonly terminals: readonly number[] | undefined;
  readonly mask: number;
}

/** Frozen, shared phase lists per mask, so results stay cheap and deep-equal. */
const PHASE_LISTS: readonly (readonly Phase[])[] = Array.from({ length: 8 }, (_, mask) =>
  Object.freeze(PHASES.filter((_p, i) => (mask & (1 << i)) !== 0)),
);

export function phasesOf(mask: number): readonly Phase[] {
  return PHASE_LISTS[mask & ALL_PHASES] ?? [];
}

const wiring = (...terminals: number[]): Wiring =>
  Object.freeze({ terminals: Object.freeze(terminals), mask: terminals.reduce((m, p) => m | (1 << p), 0) });

/** Unknown wiring counts on all three phases: the conservative choice. */
const UNKNOWN_WIRING: Wiring = { terminals: undefined, mask: ALL_PHASES };

/** Terminal 1, 2, 3 -> the grid phases named in order (`L2L3L1`: terminal 1 on L2). */
const THREE_PHASE = new Map<string, Wiring>([
  ['L1L2L3', wiring(0, 1, 2)],
  ['L2L3L1', wiring(1, 2, 0)],
  ['L3L1L2', wiring(2, 0, 1)],
  ['L1L3L2', wiring(0, 2, 1)],
  ['L3L2L1', wiring(2, 1, 0)],
  ['L2L1L3', wiring(1, 0, 2)],
]);
const ONE_PHASE = new Map<string, Wiring>([
  ['L1', wiring(0)],
  ['L2', wiring(1)],
  ['L3', wiring(2)],
]);

/** The charger's wiring; defaults `L1L2L3` and `L1`; an unknown value is counted on all phases. */
export function wiringOf(c: Pick<ChargerInput, 'phases' | 'gridPhase' | 'phaseRotation'>): Wiring {
  const w = c.phases === 1 ? ONE_PHASE.get(c.gridPhase ?? 'L1') : THREE_PHASE.get(c.phaseRotation ?? 'L1L2L3');
  return w ?? UNKNOWN_WIRING;
}

function reading(c: ChargerInput, terminal: number): number {
  const m = c.measured;
  if (m === undefined) return Number.NaN;
  return terminal === 0 ? m.t1 : terminal === 1 ? m.t2 : m.t3;
}

/** True when the sample can be mapped to grid phases: wiring known and every wired reading a number. */
function usableSample(c: ChargerInput, terminals: readonly number[] | undefined): terminals is readonly number[] {
  if (c.measured === undefined || terminals === undefined) return false;
  for (let t = 0; t < terminals.length; t++) if (!Number.isFinite(reading(c, t))) return false;
  return true;
}

/**
 * Phases a session wanting energy is counted on: the wired phases its car is measured drawing on
 * (>= 1 A), or every wired phase when there is no usable sample or the car draws on none yet (it
 * may start on any of them). Recomputed every round, so a car that starts drawing on a new phase
 * is counted there at once.
 */
export function countedMask(c: ChargerInput, w: Wiring): number {
  if (!usableSample(c, w.terminals)) return w.mask;
  const drawn = drawnMask(c, w);
  return drawn === 0 ? w.mask : drawn;
}

/** The wired phases the sample shows drawing (>= 1 A); 0 without a usable sample or when none draws. */
export function drawnMask(c: ChargerInput, w: Wiring): number {
  const { terminals, mask: wired } = w;
  if (!usableSample(c, terminals)) return 0;
  let drawn = 0;
  for (let t = 0; t < terminals.length; t++) {
    const p = terminals[t];
    if (p !== undefined && reading(c, t) >= DRAWING_A) drawn |= 1 << p;
  }
  return drawn & wired;
}

/**
 * Highest measured current over the terminals counted as drawing (all wired terminals when none
 * draws), or undefined without a usable sample. Used by reclaim.
 */
export function measuredMax(c: ChargerInput, w: Wiring): number | undefined {
  const { terminals } = w;
  if (!usableSample(c, terminals)) return undefined;
  let drawnMax = -Infinity;
  let anyMax = 0;
  for (let t = 0; t < terminals.length; t++) {
    const v = reading(c, t);
    anyMax = Math.max(anyMax, v);
    if (v >= DRAWING_A) drawnMax = Math.max(drawnMax, v);
  }
  return drawnMax === -Infinity ? anyMax : drawnMax;
}
