/**
 * Wiring and measurement -> which grid phases a session loads. Phase sets are bit masks
 * (L1 = 1, L2 = 2, L3 = 4) so the allocator's inner loops stay cheap. Pure, imports only types.
 */
import type { ChargerInput, Phase } from './allocation-types.js';

export const PHASE_NAMES: readonly Phase[] = ['L1', 'L2', 'L3'];
export const ALL_PHASES = 0b111;
/** A terminal drawing at least this much counts as loading its phase. */
export const DRAWING_A = 1;

const PHASE_INDEX: Readonly<Record<string, number>> = { L1: 0, L2: 1, L3: 2 };

/** Frozen, shared phase lists per mask, so results stay cheap and deep-equal. */
const PHASE_LISTS: readonly (readonly Phase[])[] = Array.from({ length: 8 }, (_, mask) =>
  Object.freeze(PHASE_NAMES.filter((_p, i) => (mask & (1 << i)) !== 0)),
);

export function phasesOf(mask: number): readonly Phase[] {
  return PHASE_LISTS[mask & ALL_PHASES] ?? [];
}

/**
 * Grid phase index per charger terminal (index 0 = terminal 1), or undefined when the wiring is
 * unknown: then the charger counts on all three phases and its measurements cannot be mapped.
 */
export function terminalPhases(c: ChargerInput): readonly number[] | undefined {
  if (c.phases === 1) {
    const p = PHASE_INDEX[c.gridPhase ?? 'L1'];
    return p === undefined ? undefined : [p];
  }
  const rot: string = c.phaseRotation ?? 'L1L2L3';
  if (rot.length !== 6) return undefined;
  const idx = [PHASE_INDEX[rot.slice(0, 2)], PHASE_INDEX[rot.slice(2, 4)], PHASE_INDEX[rot.slice(4, 6)]];
  const [a, b, d] = idx;
  if (a === undefined || b === undefined || d === undefined || a === b || b === d || a === d) return undefined;
  return [a, b, d];
}

function maskOf(terminals: readonly number[]): number {
  let m = 0;
  for (const p of terminals) m |= 1 << p;
  return m;
}

/** Every grid phase the charger is wired to (unknown wiring: all three). */
export function wiringMask(terminals: readonly number[] | undefined): number {
  return terminals === undefined ? ALL_PHASES : maskOf(terminals);
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
export function countedMask(c: ChargerInput, terminals: readonly number[] | undefined): number {
  const wired = wiringMask(terminals);
  if (!usableSample(c, terminals)) return wired;
  let drawn = 0;
  for (let t = 0; t < terminals.length; t++) {
    const p = terminals[t];
    if (p !== undefined && reading(c, t) >= DRAWING_A) drawn |= 1 << p;
  }
  return drawn === 0 ? wired : drawn & wired;
}

/**
 * Highest measured current over the terminals counted as drawing (all wired terminals when none
 * draws), or undefined without a usable sample. Used by reclaim.
 */
export function measuredMax(c: ChargerInput, terminals: readonly number[] | undefined): number | undefined {
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
