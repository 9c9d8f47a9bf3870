/**
 * The circuit tree as `allocate()` sees it: circuit 0 is the installation (its `phaseLimits`), the
 * others are `input.circuits` in id order (so the result never depends on their input order). Each
 * phase of each circuit is one constraint (allocate-units.ts); a charger loads its counted phases
 * on every circuit from its own up to the installation.
 *
 * Inputs are assumed validated (the API refuses cycles and unknown parents); here a bad tree still
 * degrades to the safe side: an unknown parent or circuit is the installation, a cycle is cut where
 * it closes, and every circuit of the chain walked so far still counts.
 */
import type { AllocationInput, CircuitInput, Phase, PhaseCurrents } from './allocation-types.js';
import { loadsOf, type Loads, type Vec } from './allocate-units.js';
import { scratchF64 } from './allocate-scratch.js';
import { PHASES } from './phases.js';

export interface CircuitTree {
  /** Sub-circuits by index - 1 (index 0 is the installation). */
  readonly circuits: readonly CircuitInput[];
  /** Amperes per constraint (3 * circuit + phase): the limits, and the recent lows for admission. */
  readonly limits: Vec;
  readonly stable: Vec;
  /** The index of a charger's circuit: 0 (the installation) when it has none or an unknown one. */
  indexOf(circuitId: string | undefined): number;
  /** Circuit indices from circuit `at` up to the installation (last). */
  chainOf(at: number): readonly number[];
  /**
   * `loadsOf(mask, chainOf(at))`, one shared array per circuit and phase set: a thousand chargers on
   * 61 circuits need a few hundred distinct ones, not a thousand new arrays per round.
   */
  loads(at: number, mask: number): Loads;
  /** `(mask) => loads(at, mask)`, for the few that need a function (phase switching). */
  loaderOf(at: number): LoadsOf;
}

/** The constraints a phase set loads on one circuit's chain. */
export type LoadsOf = (mask: number) => Loads;

const ROOT_CHAIN: readonly number[] = Object.freeze([0]);
/** Phase sets are 3-bit masks: 8 slots per circuit in the loads table. */
const MASKS = 8;

/**
 * What depends only on the circuits' ids and parents: their id order, the chains and the loads
 * arrays. An installation's wiring seldom changes from one round to the next, so the last shape is
 * kept and used again while every id and parent is the same (a check of a few dozen strings, where
 * building it made a Map, a sort and a few hundred small arrays per call). It holds no limits and
 * nothing of a result: only arrays that are never written once made.
 */
class Shape {
  readonly ids: string[];
  readonly parents: (string | undefined)[];
  /** Input positions in id order: circuit index i + 1 is input circuit order[i]. */
  readonly order: Int32Array;
  private readonly index = new Map<string, number>();
  private readonly parentOf: (number | undefined)[];
  private readonly chains: (readonly number[] | undefined)[];
  private readonly table: (Loads | undefined)[];

  constructor(list: readonly CircuitInput[]) {
    const m = list.length;
    this.ids = list.map((c) => c.id);
    this.parents = list.map((c) => c.parentId);
    const positions = Array.from({ length: m }, (_v, i) => i).sort((a, b) => {
      const x = this.ids[a] as string;
      const y = this.ids[b] as string;
      return x < y ? -1 : x > y ? 1 : 0;
    });
    this.order = Int32Array.from(positions);
    for (let i = 0; i < m; i++) {
      const id = this.ids[this.order[i] as number] as string;
      if (this.index.has(id)) throw new RangeError(`allocate: duplicate circuit id ${id}`);
      this.index.set(id, i + 1);
    }
    // The walk of `circuitChains`, on indices: an unknown id or parent ends the chain, a cycle its first repeat.
    this.parentOf = Array.from(this.order, (p) => {
      const parent = this.parents[p];
      return parent === undefined ? undefined : this.index.get(parent);
    });
    this.chains = new Array<readonly number[] | undefined>(m + 1);
    this.chains[0] = ROOT_CHAIN;
    this.table = new Array<Loads | undefined>((m + 1) * MASKS);
  }

  /** The same ids and parents, in the same input order. */
  fits(list: readonly CircuitInput[]): boolean {
    if (list.length !== this.ids.length) return false;
    for (let i = 0; i < list.length; i++) {
      const c = list[i] as CircuitInput;
      if (c.id !== this.ids[i] || c.parentId !== this.parents[i]) return false;
    }
    return true;
  }

  indexOf(circuitId: string | undefined): number {
    return circuitId === undefined ? 0 : (this.index.get(circuitId) ?? 0);
  }

  chainOf(at: number): readonly number[] {
    let chain = this.chains[at];
    if (chain === undefined) {
      const walked: number[] = [];
      for (let c: number | undefined = at; c !== undefined && !walked.includes(c); c = this.parentOf[c - 1]) walked.push(c);
      walked.push(0);
      this.chains[at] = chain = walked;
    }
    return chain;
  }

  loads(at: number, mask: number): Loads {
    // Only the three phase bits count (`loadsOf`), so a mask never reaches the next circuit's slots.
    const slot = at * MASKS + (mask & (MASKS - 1));
    return (this.table[slot] ??= loadsOf(mask, this.chainOf(at)));
  }
}

const NO_CIRCUITS: readonly CircuitInput[] = Object.freeze([]);
let lastShape = new Shape(NO_CIRCUITS);

/** This call's circuits and limits on a (possibly shared) shape; a class, so no closures per call. */
class Tree implements CircuitTree {
  readonly circuits: readonly CircuitInput[];
  readonly limits: Vec;
  readonly stable: Vec;

  constructor(
    input: AllocationInput,
    private readonly shape: Shape,
  ) {
    const list = input.circuits ?? NO_CIRCUITS;
    const m = list.length;
    const circuits = new Array<CircuitInput>(m);
    for (let i = 0; i < m; i++) circuits[i] = list[shape.order[i] as number] as CircuitInput;
    this.circuits = circuits;
    this.limits = scratchF64(3 * (m + 1));
    this.stable = scratchF64(3 * (m + 1));
    putPhases(this.limits, 0, input.phaseLimits);
    putPhases(this.stable, 0, input.admissionLimits ?? input.phaseLimits);
    for (let i = 0; i < m; i++) {
      const c = circuits[i] as CircuitInput;
      putPhases(this.limits, i + 1, c.limits);
      putPhases(this.stable, i + 1, c.admissionLimits ?? c.limits);
    }
  }

  indexOf(circuitId: string | undefined): number {
    return this.shape.indexOf(circuitId);
  }

  chainOf(at: number): readonly number[] {
    return this.shape.chainOf(at);
  }

  loads(at: number, mask: number): Loads {
    return this.shape.loads(at, mask);
  }

  loaderOf(at: number): LoadsOf {
    return (mask) => this.shape.loads(at, mask);
  }
}

/** Limits and recent lows come from scratch buffers: valid until the next `resetScratch()`. */
export function circuitTree(input: AllocationInput): CircuitTree {
  const list = input.circuits ?? NO_CIRCUITS;
  if (!lastShape.fits(list)) lastShape = new Shape(list);
  return new Tree(input, lastShape);
}

/** A limit that is absent (a phase the circuit lacks) or not a number counts as 0 A: never guess capacity. */
function putPhases(into: Vec, circuit: number, l: Partial<PhaseCurrents>): void {
  for (let p = 0; p < 3; p++) {
    const a = l[PHASES[p] as Phase];
    into[3 * circuit + p] = a !== undefined && Number.isFinite(a) ? a : 0;
  }
}

/**
 * The one walk up the tree: for a circuit id, the circuit ids from it up to (not including) the
 * installation, remembered per id. An unknown id or parent ends the chain (the charger counts on the
 * installation only), and a cycle ends at its first repeat.
 */
export function circuitChains(circuits: readonly CircuitInput[]): (circuitId: string | undefined) => readonly string[] {
  const byId = new Map(circuits.map((c) => [c.id, c]));
  const chains = new Map<string | undefined, string[]>();
  return (circuitId) => {
    let chain = chains.get(circuitId);
    if (chain) return chain;
    chain = [];
    for (let c = circuitId === undefined ? undefined : byId.get(circuitId); c !== undefined && !chain.includes(c.id); c = c.parentId === undefined ? undefined : byId.get(c.parentId)) {
      chain.push(c.id);
    }
    chains.set(circuitId, chain);
    return chain;
  };
}
