import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocate } from '../../balancer/allocate.js';
import { withPhaseLimits } from '../../balancer/admission-window.js';
import {
  allocationInput,
  markSent,
  newChargerModel,
  onConnection,
  onConnector,
  onProfileResult,
  onReport,
  settleDue,
  type BalancerModel,
  type ChargerWiring,
} from '../../balancer/balancer-model.js';
import { planDispatch } from '../../balancer/dispatch-plan.js';
import type { Phase } from '../../core/model.js';

const PHASES: Phase[] = ['L1', 'L2', 'L3'];

const aWiring = fc.record({
  phases: fc.constantFrom<1 | 3>(1, 3),
  rot: fc.constantFrom('L1L2L3', 'L2L3L1', 'L3L1L2'),
  grid: fc.constantFrom<Phase>('L1', 'L2', 'L3'),
  max: fc.integer({ min: 6, max: 32 }),
  priority: fc.integer({ min: 0, max: 2 }),
  offlineCurrent: fc.constantFrom<ChargerWiring['offlineCurrent']>('lastLimit', 'lastLimit', 'max', 10),
});

type Step =
  | { kind: 'plug'; i: number; on: boolean }
  | { kind: 'answer'; i: number; outcome: 'accepted' | 'rejected' | 'timeout' }
  | { kind: 'answerAll' }
  | { kind: 'time'; ms: number }
  | { kind: 'fuse'; value: number }
  | { kind: 'offline'; i: number; on: boolean };

const aStep = (n: number): fc.Arbitrary<Step> =>
  fc.oneof(
    fc.record({ kind: fc.constant('plug' as const), i: fc.nat(n - 1), on: fc.boolean() }),
    fc.record({ kind: fc.constant('answer' as const), i: fc.nat(n - 1), outcome: fc.constantFrom('accepted' as const, 'accepted' as const, 'rejected' as const, 'timeout' as const) }),
    fc.record({ kind: fc.constant('answerAll' as const) }),
    fc.record({ kind: fc.constant('answerAll' as const) }),
    fc.record({ kind: fc.constant('time' as const), ms: fc.integer({ min: 1, max: 2_000 }) }),
    fc.record({ kind: fc.constant('fuse' as const), value: fc.integer({ min: 10, max: 80 }) }),
    fc.record({ kind: fc.constant('offline' as const), i: fc.nat(n - 1), on: fc.boolean() }),
  );

/** The anti-churn knobs, on or off: the admission window and the change budget. */
const aKnobs = fc.record({
  admissionWindowMs: fc.constantFrom(0, 3_000),
  changesPerHour: fc.constantFrom(0, 3_600),
  changeBurst: fc.constantFrom(2, 6),
});

const phasesOfWiring = (w: ChargerWiring): Phase[] => (w.phases === 1 ? [w.gridPhase] : PHASES);

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
          }));
          let now = 1_000_000;
          let limit = fuse0;
          // Start from a safe, known state: everything at 0 A and accepted.
          let model: BalancerModel = {
            installationId: 'i',
            phaseLimits: { L1: limit, L2: limit, L3: limit },
            settings: { deadbandA: 0.5, minChangeIntervalMs: 0, rotationIntervalMs: 600_000, minRunMs: 0, minPauseMs: 0, reclaimAfterMs: 600_000, reclaimHeadroomA: 2, reclaimThresholdA: 3, settleMs: 500, lateAfterMs: 400, retryMs: 300, idleAfterMs: 0, wakeProbeIntervalMs: 900_000, wakeProbeMs: 60_000, ...knobs },
            chargers: Object.fromEntries(wiring.map((w) => [w.id, onReport(onConnection(newChargerModel(w, 0), true), now)])),
          };
          // Ground truth, independent of the model: the last accepted value in force, values whose
          // fate is unknown (timed out, or in flight when the charger dropped), and the value in flight.
          const accepted: Record<string, number> = Object.fromEntries(ids.map((id) => [id, 0]));
          const unknown: Record<string, number[]> = Object.fromEntries(ids.map((id) => [id, []]));
          const inFlight = new Map<string, number>();
          const settleAt = new Map<string, { value: number; at: number }>();
          const chargerWorst = (id: string): number => Math.max(accepted[id]!, ...unknown[id]!, inFlight.get(id) ?? 0);

          const worst = (p: Phase): number => wiring.reduce((s, w) => s + (phasesOfWiring(w).includes(p) ? chargerWorst(w.id) : 0), 0);

          const round = (): void => {
            // Accepted decreases take effect once settled (the car followed within the settle time).
            for (const [id, s] of [...settleAt]) {
              if (now >= s.at) {
                accepted[id] = s.value;
                unknown[id] = [];
                settleAt.delete(id);
              }
            }
            model = settleDue(withPhaseLimits(model, { L1: limit, L2: limit, L3: limit }, now), now);
            const result = allocate(allocationInput(model, now));
            const targets = new Map(result.allocations.map((a) => [a.id, { limit: a.limit, phases: a.phases }]));
            const before = PHASES.map(worst);
            for (const cmd of planDispatch(model, targets, now)) {
              model.chargers[cmd.chargerId] = markSent(model.chargers[cmd.chargerId]!, cmd.limit, now, model.settings);
              inFlight.set(cmd.chargerId, cmd.limit);
            }
            PHASES.forEach((p, k) => {
              const after = worst(p);
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
              if (!step.on && inFlight.has(id)) {
                unknown[id]!.push(inFlight.get(id)!);
                inFlight.delete(id);
              }
              // Out of sight it may reboot: one that drops its profiles runs at its maximum, one with
              // a failsafe current of its own at that, until a new limit is accepted and settled.
              const w = wiring[step.i]!;
              if (!step.on && w.offlineCurrent === 'max') unknown[id]!.push(w.maxCurrent);
              if (!step.on && typeof w.offlineCurrent === 'number') unknown[id]!.push(Math.min(w.offlineCurrent, w.maxCurrent));
            }
            const answers = step.kind === 'answer' ? [{ i: step.i, outcome: step.outcome }] : step.kind === 'answerAll' ? ids.map((_, i) => ({ i, outcome: 'accepted' as const })) : [];
            for (const answer of answers) {
              const id = ids[answer.i]!;
              const value = inFlight.get(id);
              const c = model.chargers[id]!;
              if (value === undefined || c.dispatch.command.kind !== 'inFlight') continue;
              const outcome = answer.outcome;
              inFlight.delete(id);
              model.chargers[id] = onProfileResult(c, value, outcome, now, model.settings.retryMs);
              if (outcome === 'timeout') unknown[id]!.push(value);
              if (outcome === 'accepted') {
                if (value >= chargerWorst(id)) {
                  accepted[id] = value;
                  unknown[id] = [];
                  settleAt.delete(id);
                } else settleAt.set(id, { value, at: now + model.settings.settleMs });
              }
            }
            round();
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});
