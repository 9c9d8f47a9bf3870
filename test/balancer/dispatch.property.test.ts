import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocate } from '../../balancer/allocate.js';
import { withPhaseLimits } from '../../balancer/admission-window.js';
import { allocationInput, newChargerModel, type BalancerModel, type ChargerWiring } from '../../balancer/balancer-model.js';
import { markSent, onConnection, onConnector, onReport, settleDue } from '../../balancer/charger-events.js';
import { planDispatch } from '../../balancer/dispatch-plan.js';
import type { Phase } from '../../core/model.js';
import { ChargerGroundTruth, commonSteps, PHASES, PROPERTY_SETTINGS, type CommonStep } from '../support/charger-ground-truth.js';

const aWiring = fc.record({
  phases: fc.constantFrom<1 | 3>(1, 3),
  rot: fc.constantFrom('L1L2L3', 'L2L3L1', 'L3L1L2'),
  grid: fc.constantFrom<Phase>('L1', 'L2', 'L3'),
  max: fc.integer({ min: 6, max: 32 }),
  priority: fc.integer({ min: 0, max: 2 }),
  offlineCurrent: fc.constantFrom<ChargerWiring['offlineCurrent']>('lastLimit', 'lastLimit', 'max', 10),
  // 1/3-phase switching (issue 12): a 3-phase charger with the flag may be told numberPhases 1.
  switching: fc.boolean(),
});

const aStep = (n: number): fc.Arbitrary<CommonStep> => {
  const [plug, answer, answerAll, time, fuse, offline] = commonSteps(n, { min: 10, max: 80 });
  return fc.oneof(plug!, answer!, answerAll!, answerAll!, time!, fuse!, offline!);
};

/** The anti-churn knobs, on or off: the admission window and the change budget. */
const aKnobs = fc.record({
  admissionWindowMs: fc.constantFrom(0, 3_000),
  changesPerHour: fc.constantFrom(0, 3_600),
  changeBurst: fc.constantFrom(2, 6),
  phaseSwitchHoldMs: fc.constantFrom(0, 1_000, 5_000),
  maxPhaseSwitches: fc.constantFrom(1, 5),
});

describe('dispatch (property): no command ever lets a phase exceed its limit', () => {
  it('holds on random installations, answers, fuse changes and disconnections', () => {
    fc.assert(
      fc.property(
        fc.array(aWiring, { minLength: 1, maxLength: 6 }).chain((ws) => fc.tuple(fc.constant(ws), fc.array(aStep(ws.length), { maxLength: 60 }), fc.integer({ min: 10, max: 80 }), aKnobs)),
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
          // Start from a safe, known state: everything at 0 A and accepted.
          let model: BalancerModel = {
            installationId: 'i',
            phaseLimits: { L1: limit, L2: limit, L3: limit },
            settings: { ...PROPERTY_SETTINGS, ...knobs },
            chargers: Object.fromEntries(wiring.map((w) => [w.id, onReport(onConnection(newChargerModel(w, 0), true), now)])),
          };
          const truth = new ChargerGroundTruth(wiring);

          const round = (): void => {
            truth.settle(now);
            model = settleDue(withPhaseLimits(model, { L1: limit, L2: limit, L3: limit }, now), now);
            const result = allocate(allocationInput(model, now));
            const targets = new Map(result.allocations.map((a) => [a.id, { limit: a.limit, phases: a.phases, ...(a.numberPhases ? { numberPhases: a.numberPhases } : {}) }]));
            const before = PHASES.map((p) => truth.worst(p));
            for (const cmd of planDispatch(model, targets, now)) {
              const w = wiring[ids.indexOf(cmd.chargerId)]!;
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
  });
});
