/**
 * Dispatch with 1/3-phase switching (issue 12), as a property: the general dispatch property
 * (test/balancer/dispatch.property.test.ts) biased to tight fuses and 3-phase chargers with the flag
 * on different rotations, and with meter readings, so that switches 3 -> 1 and 1 -> 3 happen often.
 * Ground truth per charger: every limit it may be running, each on the phases it was told. No command
 * may raise a phase's worst case above its limit.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocate } from '../../balancer/allocate.js';
import { withPhaseLimits } from '../../balancer/admission-window.js';
import { allocationInput, newChargerModel, type BalancerModel, type ChargerWiring } from '../../balancer/balancer-model.js';
import { markSent, onConnection, onConnector, onMeter, onReport, settleDue } from '../../balancer/charger-events.js';
import { planDispatch } from '../../balancer/dispatch-plan.js';
import type { Phase } from '../../core/model.js';
import { ChargerGroundTruth, commonSteps, PHASES, PROPERTY_SETTINGS, rebootCurrent, type CommonStep } from '../support/charger-ground-truth.js';

const aWiring = fc.record({
  phases: fc.constantFrom<1 | 3>(1, 3, 3, 3),
  rot: fc.constantFrom('L1L2L3', 'L2L3L1', 'L3L1L2', 'L3L2L1'),
  grid: fc.constantFrom<Phase>('L1', 'L2', 'L3'),
  max: fc.integer({ min: 6, max: 32 }),
  priority: fc.integer({ min: 0, max: 2 }),
  offlineCurrent: fc.constantFrom<ChargerWiring['offlineCurrent']>('lastLimit', 'lastLimit', 'max', 10),
  // 1/3-phase switching (issue 12): a 3-phase charger with the flag may be told numberPhases 1.
  switching: fc.constantFrom(true, true, true, false),
});

type Step = CommonStep | { kind: 'meter'; i: number };

const aStep = (n: number): fc.Arbitrary<Step> => {
  const [plug, answer, answerAll, time, fuse, offline] = commonSteps(n, { min: 8, max: 30 });
  const meter = fc.record({ kind: fc.constant('meter' as const), i: fc.nat(n - 1) });
  return fc.oneof<fc.Arbitrary<Step>[]>(plug!, answer!, answerAll!, answerAll!, time!, fuse!, meter, meter, offline!);
};

/** The anti-churn knobs, on or off: the admission window and the change budget. */
const aKnobs = fc.record({
  admissionWindowMs: fc.constantFrom(0, 3_000),
  changesPerHour: fc.constantFrom(0, 3_600),
  changeBurst: fc.constantFrom(2, 6),
  phaseSwitchHoldMs: fc.constantFrom(0, 500, 2_000),
  maxPhaseSwitches: fc.constantFrom(1, 5),
});

describe('dispatch with 1/3-phase switching (property): no command ever lets a phase exceed its limit', () => {
  it('holds on tight fuses with switching chargers, meter readings, answers, fuse changes and disconnections', () => {
    let switches = 0;
    fc.assert(
      fc.property(
        fc.array(aWiring, { minLength: 1, maxLength: 6 }).chain((ws) => fc.tuple(fc.constant(ws), fc.array(aStep(ws.length), { maxLength: 80 }), fc.integer({ min: 8, max: 30 }), aKnobs)),
        ([wirings, steps, fuse0, knobs]) => {
          const ids = wirings.map((_, i) => `c${i}`);
          const wiring: ChargerWiring[] = wirings.map((w, i) => ({
            id: ids[i]!,
            phases: w.phases,
            phaseRotation: w.rot as ChargerWiring['phaseRotation'],
            gridPhase: w.grid,
            minCurrent: 6,
            maxCurrent: w.max,
            priority: w.priority,
            offlineCurrent: w.offlineCurrent,
            ...(w.phases === 3 && w.switching ? { phaseSwitching: true } : {}),
          }));
          let now = 1_000_000;
          let limit = fuse0;
          // Start with every last limit at 0 A (lastLimit chargers run that); failsafe currents below.
          let model: BalancerModel = {
            installationId: 'i',
            phaseLimits: { L1: limit, L2: limit, L3: limit },
            settings: { ...PROPERTY_SETTINGS, ...knobs },
            // Every car plugged in at the start (the plug steps take them away and back).
            chargers: Object.fromEntries(wiring.map((w) => [w.id, onConnector(onReport(onConnection(newChargerModel(w, 0), true), now), 1, 'Charging', now)])),
          };
          // Each charger has just connected: one that drops its profiles may run at its maximum, one
          // with a failsafe current of its own at that, until a new limit is accepted and settled.
          const truth = new ChargerGroundTruth(wiring, rebootCurrent);

          const round = (): void => {
            truth.settle(now);
            model = settleDue(withPhaseLimits(model, { L1: limit, L2: limit, L3: limit }, now), now);
            const result = allocate(allocationInput(model, now));
            const targets = new Map(result.allocations.map((a) => [a.id, { limit: a.limit, phases: a.phases, ...(a.numberPhases ? { numberPhases: a.numberPhases } : {}) }]));
            const before = PHASES.map((p) => truth.worst(p));
            for (const cmd of planDispatch(model, targets, now)) {
              const w = wiring[ids.indexOf(cmd.chargerId)]!;
              if (cmd.numberPhases !== undefined && cmd.numberPhases !== (model.chargers[cmd.chargerId]!.phaseSwitch?.mode ?? 3)) switches++;
              // Only chargers with the flag are ever told numberPhases.
              if (cmd.numberPhases !== undefined) expect(w.phaseSwitching).toBe(true);
              else expect(w.phaseSwitching).toBeUndefined();
              model.chargers[cmd.chargerId] = markSent(model.chargers[cmd.chargerId]!, cmd.limit, now, model.settings, cmd.numberPhases);
              truth.sent(cmd.chargerId, { v: cmd.limit, n: cmd.numberPhases ?? 3 });
            }
            PHASES.forEach((p, k) => {
              const after = truth.worst(p);
              // A command may only raise a phase's worst case up to its limit.
              if (after > before[k]! + 1e-9) expect(after).toBeLessThanOrEqual(limit + 1e-9);
            });
          };

          round();
          for (const step of steps) {
            if (step.kind === 'time') now += step.ms;
            if (step.kind === 'fuse') limit = step.value;
            if (step.kind === 'meter') {
              // The charger's meter: only when its state is certain (nothing in flight, unknown or
              // settling), it shows what it runs: the accepted limit on the phases it was told, if a car charges.
              const id = ids[step.i]!;
              const c = model.chargers[id]!;
              if (!truth.certain(id) || !c.dispatch.online) continue;
              const a = c.connectors[1] === 'Charging' ? truth.acceptedOf(id) : { v: 0, n: 3 };
              const w = wiring[step.i]!;
              const on = w.phases === 1 || a.n === 1 ? 0 : a.v;
              model.chargers[id] = onMeter(c, { t1: a.v, t2: on, t3: on }, now, model.settings.reclaimThresholdA);
            }
            if (step.kind === 'plug') {
              const c = model.chargers[ids[step.i]!]!;
              model.chargers[ids[step.i]!] = onConnector(c, 1, step.on ? 'Charging' : 'Available', now);
            }
            if (step.kind === 'offline') {
              const id = ids[step.i]!;
              const c = model.chargers[id]!;
              if (step.on === c.dispatch.online) continue;
              model.chargers[id] = step.on ? onReport(onConnection(c, true), now) : onConnection(c, false);
              if (!step.on) truth.dropped(id);
            }
            if (step.kind === 'answer') model = truth.answer(model, ids[step.i]!, step.outcome, now);
            if (step.kind === 'answerAll') for (const id of ids) model = truth.answer(model, id, 'accepted', now);
            round();
          }
        },
      ),
      { numRuns: 400 },
    );
    // The generators must make switches happen, or the property says nothing about them.
    expect(switches).toBeGreaterThan(100);
  });
});
