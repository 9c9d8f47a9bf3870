import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocate } from '../../balancer/allocate.js';
import { withPhaseLimits } from '../../balancer/admission-window.js';
import { allocationInput, countedValue, newChargerModel, type BalancerModel, type ChargerWiring } from '../../balancer/balancer-model.js';
import { onConnection, onConnector, onReport, onWithdrawn, settleDue } from '../../balancer/charger-events.js';
import { planDispatch, splitBeforePersist, whileWriting, withSent, type DurableWorstCase, type ProfileCommand } from '../../balancer/dispatch-plan.js';
import type { Phase } from '../../core/model.js';
import { ChargerGroundTruth, commonSteps, PROPERTY_SETTINGS, type CommonStep } from '../support/charger-ground-truth.js';

/**
 * The shell's send order (installation-balancer.ts recomputeOnce/persist): commands that
 * splitBeforePersist lets go early are sent before the round's KV writes land, the others only once
 * they landed; writes may fail (KV out). Whatever happens, a successor reading KV at any instant
 * must count every charger at no less than any limit it may be running at.
 */

const aWiring = fc.record({
  phases: fc.constantFrom<1 | 3>(1, 3),
  grid: fc.constantFrom<Phase>('L1', 'L2', 'L3'),
  max: fc.integer({ min: 6, max: 32 }),
  priority: fc.integer({ min: 0, max: 2 }),
});

type Step = CommonStep | { kind: 'kv'; up: boolean };

const aStep = (n: number): fc.Arbitrary<Step> => {
  const [plug, answer, answerAll, time, fuse, offline] = commonSteps(n, { min: 10, max: 80 });
  return fc.oneof<fc.Arbitrary<Step>[]>(plug!, answer!, answerAll!, time!, fuse!, offline!, fc.record({ kind: fc.constant('kv' as const), up: fc.boolean() }));
};

type WiringDraw = { phases: 1 | 3; grid: Phase; max: number; priority: number };

/** Runs the shell's order over `steps`; throws when KV does not cover a charger. Returns how many commands went early. */
function simulate(wirings: readonly WiringDraw[], steps: readonly Step[], fuse0: number): number {
  let early = 0;
  const ids = wirings.map((_, i) => `c${i}`);
  const wiring: ChargerWiring[] = wirings.map((w, i) => ({ id: ids[i]!, phases: w.phases, phaseRotation: 'L1L2L3', gridPhase: w.grid, minCurrent: 6, maxCurrent: w.max, priority: w.priority, offlineCurrent: 'lastLimit' }));
  let now = 1_000_000;
  let limit = fuse0;
  let model: BalancerModel = {
    installationId: 'i',
    phaseLimits: { L1: limit, L2: limit, L3: limit },
    settings: { ...PROPERTY_SETTINGS, admissionWindowMs: 0, changesPerHour: 0, changeBurst: 6, phaseSwitchHoldMs: 0, maxPhaseSwitches: 1 },
    chargers: Object.fromEntries(wiring.map((w) => [w.id, onReport(onConnection(newChargerModel(w, 0), true), now)])),
  };
  // KV as a successor reads it, and the shell's bookkeeping of it. Everything starts at 0 A, persisted.
  const kv = new Map<string, number>(ids.map((id) => [id, 0]));
  const persistedKey = new Map<string, string>(ids.map((id) => [id, '0']));
  const durable = new Map<string, DurableWorstCase>(ids.map((id) => [id, { limit: 0 }]));
  const writeSeq = new Map<string, number>();
  let kvUp = true;
  // Ground truth: limits the charger may be running at (accepted in force, fate unknown, in flight).
  const truth = new ChargerGroundTruth(wiring);
  const covered = (): void => {
    for (const id of ids) expect(kv.get(id)!).toBeGreaterThanOrEqual(truth.mayRunAt(id) - 1e-9);
  };

  /** The shell's persist(): writes issued now, landing (or failing) when `land` is called. */
  const persist = (): { land: () => boolean } => {
    const writes: { id: string; v: number; key: string; seq: number }[] = [];
    for (const [id, c] of Object.entries(model.chargers)) {
      const v = countedValue(c);
      const key = String(v);
      if (persistedKey.get(id) === key) continue;
      persistedKey.set(id, key);
      durable.set(id, whileWriting(durable.get(id), { limit: v }));
      const seq = (writeSeq.get(id) ?? 0) + 1;
      writeSeq.set(id, seq);
      writes.push({ id, v, key, seq });
    }
    return {
      land: () => {
        for (const w of writes) {
          if (kvUp) {
            kv.set(w.id, w.v);
            if (writeSeq.get(w.id) === w.seq) durable.set(w.id, { limit: w.v });
          } else if (persistedKey.get(w.id) === w.key) persistedKey.delete(w.id);
        }
        return kvUp || writes.length === 0;
      },
    };
  };
  const sent = (cmds: readonly ProfileCommand[]): void => {
    for (const cmd of cmds) truth.sent(cmd.chargerId, { v: cmd.limit, n: 3 });
  };

  const round = (): void => {
    truth.settle(now);
    model = settleDue(withPhaseLimits(model, { L1: limit, L2: limit, L3: limit }, now), now);
    const result = allocate(allocationInput(model, now));
    const targets = new Map(result.allocations.map((a) => [a.id, { limit: a.limit, phases: a.phases }]));
    const commands = planDispatch(model, targets, now);
    const split = splitBeforePersist(model, commands, durable);
    expect([...split.early, ...split.late].length).toBe(commands.length);
    early += split.early.length;
    model = withSent(model, commands, now);
    sent(split.early);
    const writes = persist();
    // The window the change opens: early commands out, the round's writes not landed.
    covered();
    if (writes.land()) sent(split.late);
    // Not written: the raises were not sent and are withdrawn (the shell's withdraw()).
    else for (const cmd of split.late) model.chargers[cmd.chargerId] = onWithdrawn(model.chargers[cmd.chargerId]!, cmd.limit, now, model.settings);
    covered();
  };

  round();
  for (const step of steps) {
    if (step.kind === 'time') now += step.ms;
    if (step.kind === 'fuse') limit = step.value;
    if (step.kind === 'kv') kvUp = step.up;
    if (step.kind === 'plug') model.chargers[ids[step.i]!] = onConnector(model.chargers[ids[step.i]!]!, 1, step.on ? 'Charging' : 'Available', now);
    if (step.kind === 'offline') {
      const id = ids[step.i]!;
      const c = model.chargers[id]!;
      if (step.on === c.dispatch.online) continue;
      model.chargers[id] = step.on ? onReport(onConnection(c, true), now) : onConnection(c, false);
      if (!step.on) truth.dropped(id);
    }
    const answers = step.kind === 'answer' ? [{ id: ids[step.i]!, outcome: step.outcome }] : step.kind === 'answerAll' ? ids.map((id) => ({ id, outcome: 'accepted' as const })) : [];
    for (const answer of answers) {
      const before = model;
      model = truth.answer(model, answer.id, answer.outcome, now);
      if (model === before) continue;
      // send()'s persist after an answer.
      persist().land();
      covered();
    }
    round();
  }
  return early;
}

describe('sending before persisting (property): KV always covers what a charger may run at', () => {
  it('holds with decreases sent before the write, raises after it, and failing writes', () => {
    let early = 0;
    fc.assert(
      fc.property(
        fc.array(aWiring, { minLength: 1, maxLength: 6 }).chain((ws) => fc.tuple(fc.constant(ws), fc.array(aStep(ws.length), { maxLength: 60 }), fc.integer({ min: 10, max: 80 }))),
        ([wirings, steps, fuse0]) => {
          early += simulate(wirings, steps, fuse0);
        },
      ),
      { numRuns: 400 },
    );
    // The property is about something: decreases did go early.
    expect(early).toBeGreaterThan(0);
  });

  it('holds a decrease back when the raise before it was never written (KV out): KV still holds the lower old value', () => {
    const one: WiringDraw = { phases: 1, grid: 'L1', max: 32, priority: 0 };
    const steps: Step[] = [{ kind: 'answerAll' }, { kind: 'kv', up: false }, { kind: 'plug', i: 0, on: true }, { kind: 'time', ms: 400 }, { kind: 'fuse', value: 20 }, { kind: 'time', ms: 400 }, { kind: 'kv', up: true }, { kind: 'answerAll' }];
    expect(() => simulate([one], steps, 32)).not.toThrow();
  });
});

describe('splitBeforePersist', () => {
  const w3: ChargerWiring = { id: 'a', phases: 3, phaseRotation: 'L1L2L3', gridPhase: 'L1', minCurrent: 6, maxCurrent: 32, priority: 0, offlineCurrent: 'lastLimit', phaseSwitching: true };
  const modelWith = (c = onReport(onConnection(newChargerModel(w3, 16), true), 0)): BalancerModel => ({ installationId: 'i', phaseLimits: { L1: 100, L2: 100, L3: 100 }, settings: {} as BalancerModel['settings'], chargers: { a: c } });

  it('sends a decrease covered by the durable record early, a raise late', () => {
    const m = modelWith();
    const durable = new Map([['a', { limit: 16, mode: 3 as const }]]);
    expect(splitBeforePersist(m, [{ chargerId: 'a', limit: 8, numberPhases: 3 }], durable).early).toHaveLength(1);
    expect(splitBeforePersist(m, [{ chargerId: 'a', limit: 20, numberPhases: 3 }], durable).late).toHaveLength(1);
  });

  it('waits when the durable record is unknown or lower (a write that failed) than the limit', () => {
    const m = modelWith();
    expect(splitBeforePersist(m, [{ chargerId: 'a', limit: 8 }], new Map()).late).toHaveLength(1);
    expect(splitBeforePersist(m, [{ chargerId: 'a', limit: 8 }], new Map([['a', { limit: 6 }]])).late).toHaveLength(1);
  });

  it('sends 3 -> 1 early, but a switch to 3 phases waits (a raise on two phases)', () => {
    const onOne = { ...onReport(onConnection(newChargerModel(w3, 16), true), 0), phaseSwitch: { mode: 1 as const, switches: 1 } };
    expect(splitBeforePersist(modelWith(), [{ chargerId: 'a', limit: 16, numberPhases: 1 }], new Map([['a', { limit: 16, mode: 3 as const }]])).early).toHaveLength(1);
    expect(splitBeforePersist(modelWith(onOne), [{ chargerId: 'a', limit: 10, numberPhases: 3 }], new Map([['a', { limit: 16, mode: 1 as const }]])).late).toHaveLength(1);
    // Counted on three phases by the leader, but KV may still say one (its write in flight).
    expect(splitBeforePersist(modelWith(), [{ chargerId: 'a', limit: 10, numberPhases: 3 }], new Map([['a', { limit: 16, mode: 1 as const }]])).late).toHaveLength(1);
  });

  it('folds a write in flight: the lower limit on the fewer phases', () => {
    expect(whileWriting({ limit: 16, mode: 3 }, { limit: 10, mode: 1 })).toEqual({ limit: 10, mode: 1 });
    expect(whileWriting({ limit: 10, mode: 1 }, { limit: 16, mode: 3 })).toEqual({ limit: 10, mode: 1 });
    expect(whileWriting(undefined, { limit: 16 })).toEqual({ limit: 16 });
  });
});
