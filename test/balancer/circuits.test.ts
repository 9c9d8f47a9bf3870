/**
 * The pure parts of circuits and grid meters: the tree's validation (core/circuits.ts), the limits a
 * meter gives (balancer/circuit-limits.ts), and decrease-before-increase on every circuit
 * (balancer/circuit-dispatch.ts through planDispatch).
 */
import { describe, expect, it } from 'vitest';
import { newChargerModel, type BalancerModel, type ChargerModel, type ChargerWiring } from '../../balancer/balancer-model.js';
import { markSent, onConnection, onConnector, onProfileResult, onReport, settleDue } from '../../balancer/charger-events.js';
import { planDispatch } from '../../balancer/dispatch-plan.js';
import { circuitLimitsAt, gridDraw, meterBounds, onMeterReading, withDrawSample, type DrawSample, type MeterState } from '../../balancer/circuit-limits.js';
import { checkCircuitTree } from '../../core/circuits.js';
import type { Circuit, Installation } from '../../core/model.js';

const board = (over: Partial<Circuit> = {}): Circuit => ({ id: 'board', name: 'Board', limits: { L1: 32, L2: 32, L3: 32 }, ...over });

const installation = (over: Partial<Installation> = {}): Installation =>
  ({
    id: 'i',
    name: 'Site',
    fuse: { L1: 63, L2: 63, L3: 63 },
    authorization: { required: false, idTags: [] },
    ocpp: { partnerEnabled: false },
    balancer: { safetyMarginA: 2, admissionWindowMs: 0, meterMaxAgeS: 60 },
    createdAt: '',
    updatedAt: '',
    ...over,
  }) as Installation;

const sample = (at: number, a: number): DrawSample => ({ at, grid: { L1: a, L2: a, L3: a } });
/** The board's bounds in `installation()`: 32 A - 2 A margin, meter silent after 60 s. */
const BOARD = meterBounds(installation({ circuits: [board()] }), 'board');

describe('circuit tree validation', () => {
  it('names the field: unknown parent, cycle, a phase the parent lacks', () => {
    expect(() => checkCircuitTree([board({ parentId: 'x' })], 'board')).toThrow(/^parentId: /);
    expect(() => checkCircuitTree([board({ id: 'a', parentId: 'b' }), board({ id: 'b', parentId: 'a' })], 'a')).toThrow(/^parentId: .*cycle/);
    expect(() => checkCircuitTree([board({ id: 'a', limits: { L1: 16 } }), board({ id: 'b', parentId: 'a', limits: { L1: 10, L3: 10 } })], 'b')).toThrow(/^limits\.L3: /);
    expect(() => checkCircuitTree([board({ id: 'a', limits: { L1: 16 } }), board({ id: 'b', parentId: 'a', limits: { L1: 10 } })], 'b')).not.toThrow();
  });
});

describe('grid meter limits', () => {
  const chargers = (draws: Record<string, DrawSample[]>, circuitOf: Record<string, string | undefined>) =>
    Object.keys(draws).map((id) => ({ circuitId: circuitOf[id], draws: draws[id] }));

  it('takes off the reading what the chargers below drew at that time (newest sample not after it), not those elsewhere', () => {
    const draws = { a: [sample(0, 4), sample(900, 10), sample(1_100, 16)], b: [sample(0, 7)], m: [sample(0, 20)] };
    const state = onMeterReading(undefined, [board()], 'board', { L1: 30, L2: 25, L3: 20, at: 1_000 }, chargers(draws, { a: 'board', b: 'board', m: undefined }), BOARD);
    // a drew 10 A at 1,000 (its 16 A sample came later), b 7 A; m is on the main fuse.
    expect(state.last.otherLoad).toEqual({ L1: 13, L2: 8, L3: 3 });
    // A charger without a sample before the reading counts as other load: the safe side.
    const none = onMeterReading(undefined, [board()], 'board', { L1: 30, L2: 30, L3: 30, at: 1_000 }, chargers({ a: [sample(2_000, 10)] }, { a: 'board' }), BOARD);
    expect(none.last.otherLoad.L1).toBe(30);
  });

  it('takes a change of the other load only when two readings in a row show it, unless the circuit is over its limit now', () => {
    // Board 32 A, margin 2: limit 30. Own load 6 A; charger a draws 10 A, sampled 4 s before each reading.
    const read = (s: MeterState | undefined, at: number, l: number, drew: number) => onMeterReading(s, [board()], 'board', { L1: l, L2: l, L3: l, at }, chargers({ a: [sample(at - 4_000, drew)] }, { a: 'board' }), BOARD);
    let s = read(undefined, 10_000, 16, 10);
    expect(s.last.otherLoad.L1).toBe(6);
    // Raised to 20 A after its sample: the reading shows 26 A against a 10 A sample, a false 16 A of own load.
    s = read(s, 20_000, 26, 10);
    expect(s.last.estimate.L1).toBe(16);
    expect(s.last.otherLoad.L1).toBe(6);
    // Its next sample shows the 20 A: the estimate is back at 6, the false step never took hold.
    s = read(s, 30_000, 26, 20);
    expect(s.last.otherLoad.L1).toBe(6);
    // Lowered to 4 A after its sample: a false dip to 0 A is not taken either.
    s = read(s, 40_000, 10, 20);
    expect(s.last.otherLoad.L1).toBe(6);
    // A real step of the own load to 12 A, seen twice: taken at the second reading.
    s = read(s, 50_000, 16, 4);
    expect(s.last.otherLoad.L1).toBe(6);
    s = read(s, 60_000, 16, 4);
    expect(s.last.otherLoad.L1).toBe(12);
    // A reading above the limit (30 A) takes the higher estimate at once.
    s = read(s, 70_000, 31, 4);
    expect(s.last.otherLoad.L1).toBe(27);
    expect(s.history.map((h) => h.otherLoad.L1)).toEqual([6, 6, 6, 6, 6, 12, 27]);
    // After a silence longer than maxAgeS (the failsafe was in force) the first reading back counts alone.
    expect(read(s, 200_000, 10, 4).last.otherLoad.L1).toBe(6);
  });

  it('gives the chargers fuse - margin - other load while the meter speaks; a reading above the fuse gives 0 at once', () => {
    const inst = installation({ circuits: [board({ meter: { maxAgeS: 10 } })] });
    const meters = new Map([['board', onMeterReading(undefined, inst.circuits!, 'board', { L1: 12, L2: 0, L3: 5, at: 1_000 }, [], meterBounds(inst, 'board'))]]);
    const at = circuitLimitsAt(inst, meters, 5_000);
    expect(at.circuits[0]!.limits).toEqual({ L1: 18, L2: 30, L3: 25 });
    expect(at.nextSilenceAt).toBe(11_000);
    const over = new Map([['board', onMeterReading(meters.get('board'), inst.circuits!, 'board', { L1: 40, L2: 40, L3: 40, at: 6_000 }, [], meterBounds(inst, 'board'))]]);
    expect(circuitLimitsAt(inst, over, 6_000).circuits[0]!.limits).toEqual({ L1: 0, L2: 0, L3: 0 });
  });

  it('runs a silent meter on its failsafe: configured, else the lowest limit of the last hour, else 0 A; the root meter lowers the installation', () => {
    const silentAt = 1_000 + 10_000;
    const reading = (s: ReturnType<typeof onMeterReading> | undefined, l: number, at: number) => onMeterReading(s, [board()], 'board', { L1: l, L2: l, L3: l, at }, [], BOARD);
    const history = reading(reading(undefined, 14, 0), 6, 1_000);
    const configured = installation({ circuits: [board({ meter: { maxAgeS: 10, failsafeCurrent: { L1: 18, L2: 18, L3: 18 } } })] });
    const a = circuitLimitsAt(configured, new Map([['board', history]]), silentAt);
    expect(a.circuits[0]!.limits).toEqual({ L1: 18, L2: 18, L3: 18 });
    expect(a.meters[0]!.failsafe).toMatchObject({ source: 'configured' });
    const lowest = circuitLimitsAt(installation({ circuits: [board({ meter: { maxAgeS: 10 } })] }), new Map([['board', history]]), silentAt);
    // The highest other load of the hour was 14 A: 32 - 2 - 14.
    expect(lowest.circuits[0]!.limits).toEqual({ L1: 16, L2: 16, L3: 16 });
    expect(circuitLimitsAt(installation({ circuits: [board({ meter: {} })] }), new Map(), 0).circuits[0]!.limits).toEqual({ L1: 0, L2: 0, L3: 0 });
    // A meter on the installation's own fuse ('main').
    const root = installation({ meter: { maxAgeS: 10 } });
    const m = onMeterReading(undefined, [], 'main', { L1: 20, L2: 10, L3: 0, at: 0 }, [{ circuitId: undefined, draws: [sample(0, 5)] }], meterBounds(root, 'main'));
    expect(circuitLimitsAt(root, new Map([['main', m]]), 1).root).toEqual({ L1: 46, L2: 56, L3: 61 });
  });

  it('maps a charger\'s terminals to grid phases through its wiring and keeps a short history', () => {
    const w = { id: 'x', phases: 3, phaseRotation: 'L2L3L1', gridPhase: 'L1', minCurrent: 6, maxCurrent: 32, priority: 0, offlineCurrent: 'lastLimit' } as const;
    expect(gridDraw(w, { t1: 10, t2: 0, t3: 0 })).toEqual({ L1: 0, L2: 10, L3: 0 });
    let h: DrawSample[] = [];
    for (let t = 0; t < 20; t++) h = withDrawSample(h, sample(t, t));
    expect(h.length).toBeLessThanOrEqual(8);
    expect(h.at(-1)!.at).toBe(19);
  });
});

describe('decrease before increase on every circuit', () => {
  const wiring = (id: string, circuitId?: string): ChargerWiring => ({ id, phases: 3, phaseRotation: 'L1L2L3', gridPhase: 'L1', minCurrent: 6, maxCurrent: 32, priority: 0, offlineCurrent: 'lastLimit', ...(circuitId ? { circuitId } : {}) });
  const online = (c: ChargerModel): ChargerModel => { const r = onReport(onConnection(c, true), 0); return { ...r, dispatch: { ...r.dispatch, needsProfile: false } }; };
  const settings = { settleMs: 1_000, retryMs: 500, lateAfterMs: 10_000, deadbandA: 0, minChangeIntervalMs: 0, rotationIntervalMs: 0, minRunMs: 0, minPauseMs: 0, admissionWindowMs: 0, changesPerHour: 0, changeBurst: 10, idleAfterMs: 0, wakeProbeIntervalMs: 1_000, wakeProbeMs: 0, reclaimAfterMs: 0, reclaimHeadroomA: 2, reclaimThresholdA: 2 } as BalancerModel['settings'];
  const targets = (t: Record<string, number>) => new Map(Object.entries(t).map(([id, limit]) => [id, { limit, phases: ['L1', 'L2', 'L3'] as const }]));

  it('holds a raise on a board until the board\'s decrease settled, though the main fuse has room', () => {
    const a = online(onConnector(newChargerModel(wiring('a', 'board'), 24), 1, 'Charging', 0));
    const b = online(onConnector(newChargerModel(wiring('b', 'board'), 8), 1, 'Charging', 0));
    const model = (chargers: Record<string, ChargerModel>): BalancerModel => ({ installationId: 'i', phaseLimits: { L1: 63, L2: 63, L3: 63 }, settings, chargers, circuits: [{ id: 'board', limits: { L1: 32, L2: 32, L3: 32 } }] });
    expect(planDispatch(model({ a, b }), targets({ a: 16, b: 16 }), 0)).toEqual([{ chargerId: 'a', limit: 16 }]);
    const m = model({ a: onProfileResult(markSent(a, 16, 0), 16, 'accepted', 1, 500), b });
    expect(planDispatch(m, targets({ a: 16, b: 16 }), 2)).toEqual([]);
    expect(planDispatch(settleDue(m, 1_001), targets({ a: 16, b: 16 }), 1_001)).toEqual([{ chargerId: 'b', limit: 16 }]);
    // Flat (no circuits), the same raise would go at once: only the board holds it.
    const { circuits: _c, ...flat } = m;
    expect(planDispatch(flat, targets({ a: 16, b: 16 }), 2)).toEqual([{ chargerId: 'b', limit: 16 }]);
  });
});
