/**
 * The balancer's memory of one installation, and the pure rules that move it: what each charger
 * is counted at (the worst current it may draw), what it wants, and which SetChargingProfile is in
 * flight or settling. The shell (`installation-balancer.ts`) feeds events in and executes the
 * commands `planDispatch` returns; nothing here does I/O or reads the clock.
 */
import type { ChargerInput as AllocChargerInput, AllocationSettings, CircuitInput, Phase, PhaseCurrents } from './allocation-types.js';
import { circuitBudget } from './circuit-dispatch.js';
import type { BalancerSettings, OfflineCurrent } from '../core/model.js';
import { offlineWorstCase, type OfflineBasis } from './offline-current.js';
import { countedMask, DRAWING_A, PHASES, phasesOf, wiringOf } from './phases.js';

/** Connector states in which a car is plugged in and wants (or may soon want) energy. */
const WANTS_ENERGY = new Set(['Preparing', 'Charging', 'SuspendedEV', 'SuspendedEVSE']);

export interface ChargerWiring {
  id: string;
  phases: 1 | 3;
  phaseRotation: AllocChargerInput['phaseRotation'];
  gridPhase: Phase;
  minCurrent: number;
  maxCurrent: number;
  priority: number;
  offlineCurrent: OfflineCurrent;
  /** The circuit it is wired to (`BalancerModel.circuits`); absent: the installation's fuse. */
  circuitId?: string;
}

export interface ChargerModel {
  wiring: ChargerWiring;
  online: boolean;
  /** Has reported since this balancer started (a new leader raises nothing before). */
  fresh: boolean;
  connectors: Record<number, string>;
  arrivedAt?: number;
  activeTx?: { transactionId: number; connectorId: number };
  measured?: { t1: number; t2: number; t3: number; at: number };
  /**
   * The limit counted as in force: the last one the charger accepted, raised at once to any
   * increase sent (it may apply it before answering), lowered only when a decrease settled.
   * Undefined = unknown: counted at the charger's maximum.
   */
  granted?: number;
  inFlight?: { value: number; sentAt: number };
  /** An accepted decrease waiting to show in the meter values or for the settle time. */
  settling?: { value: number; acceptedAt: number };
  /** After a rejected or unanswered command: not retried before this time. */
  retryAfter?: number;
  /** Send the current target even if unchanged (after connect: the charger's safe default). */
  needsProfile: boolean;
  lastChangeAt?: number;
  pausedSince?: number;
  runningSince?: number;
  underDrawSince?: number;
  /** Since when the car draws nothing (< 1 A on every phase) although offered its minimum or more. */
  noDrawSince?: number;
  /** Change budget: tokens left at `at` (see `raiseHeldUntil`). Undefined = full. */
  budget?: { tokens: number; at: number };
  cap?: number;
  /** Set while `granted` was raised to the measured draw of a charger above its limit. */
  overLimit?: boolean;
}

/** The installation's balancer settings (but the margin, applied to the phase limits) and the node's tuning. */
export type ModelSettings = AllocationSettings &
  Omit<BalancerSettings, 'safetyMarginA' | 'failsafeCurrent' | 'fuseDedicatedToChargers'> & {
    /** An unanswered change older than this is late: its charger is counted off the top. */
    lateAfterMs: number;
    retryMs: number;
  };

export interface BalancerModel {
  installationId: string;
  /** Per-phase current available to chargers (fuse - margin, or the dynamic limit when lower). */
  phaseLimits: PhaseCurrents;
  /** Phase limits in force since `from`, oldest first, back to the start of the admission window. */
  limitHistory?: readonly { from: number; limits: PhaseCurrents }[];
  settings: ModelSettings;
  chargers: Record<string, ChargerModel>;
  /** Circuits below the fuse with the limits in force for their chargers (absent: a flat installation). */
  circuits?: readonly CircuitInput[];
}

/** A raise needs the token it spends and one for the decrease that may follow it. */
const RAISE_TOKENS = 2;
const HOUR_MS = 3_600_000;

export function newChargerModel(wiring: ChargerWiring, granted: number | undefined): ChargerModel {
  return { wiring, online: false, fresh: false, connectors: {}, needsProfile: false, ...(granted !== undefined ? { granted } : {}) };
}

export function wantsEnergy(c: ChargerModel): boolean {
  return Object.values(c.connectors).some((s) => WANTS_ENERGY.has(s));
}

/** The worst current the charger may draw now, per phase. */
export function countedValue(c: ChargerModel): number {
  const base = c.granted ?? c.wiring.maxCurrent;
  return c.inFlight && c.inFlight.value > base ? c.inFlight.value : base;
}

/** Why a charger is counted at its value, as the status shows it. */
export type CountedBasis = OfflineBasis | 'limit' | 'raise in flight' | 'over limit: draw' | 'not answering';

/**
 * What the charger is counted at in the committed load, and why: an offline charger at what it will
 * do offline (`offline-current.ts`), an online one at `countedValue`.
 */
export function countedAs(c: ChargerModel): { value: number; basis: CountedBasis } {
  if (!c.online) return offlineWorstCase(c.granted, c.wiring.maxCurrent, c.wiring.offlineCurrent);
  const value = countedValue(c);
  if (c.granted === undefined && !c.inFlight) return { value, basis: 'offline: max' };
  const basis: CountedBasis = c.overLimit ? 'over limit: draw' : c.inFlight && c.inFlight.value > (c.granted ?? 0) ? 'raise in flight' : 'limit';
  return { value, basis };
}

/** The limit the charger was last told: in flight, else settling, else in force. */
function lastCommanded(c: ChargerModel): number {
  return c.inFlight?.value ?? c.settling?.value ?? countedValue(c);
}

/** Change-budget tokens a charger has at `now` (Infinity without a budget). */
export function tokensAt(c: ChargerModel, now: number, s: ModelSettings): number {
  if (!(s.changesPerHour > 0)) return Infinity;
  if (!c.budget) return s.changeBurst;
  return Math.min(s.changeBurst, c.budget.tokens + ((now - c.budget.at) * s.changesPerHour) / HOUR_MS);
}

/** When the charger will have the tokens for a raise again; undefined when it has them now. */
function raiseHeldUntil(c: ChargerModel, now: number, s: ModelSettings): number | undefined {
  const tokens = tokensAt(c, now, s);
  if (tokens >= RAISE_TOKENS) return undefined;
  return now + Math.ceil(((RAISE_TOKENS - tokens) * HOUR_MS) / s.changesPerHour);
}

/** Asleep (drawing nothing for `idleAfterMs` while offered): sleeping, or probing at its minimum. */
export function asleepState(c: ChargerModel, now: number, s: ModelSettings): 'sleeping' | 'probing' | undefined {
  if (c.noDrawSince === undefined || !(s.idleAfterMs > 0) || !(s.wakeProbeIntervalMs > 0)) return undefined;
  const e = now - c.noDrawSince - s.idleAfterMs;
  if (e < 0) return undefined;
  return e % s.wakeProbeIntervalMs < s.wakeProbeIntervalMs - s.wakeProbeMs ? 'sleeping' : 'probing';
}

/** The next time `asleepState` changes. */
function nextAsleepChange(c: ChargerModel, now: number, s: ModelSettings): number | undefined {
  if (c.noDrawSince === undefined || !(s.idleAfterMs > 0) || !(s.wakeProbeIntervalMs > 0)) return undefined;
  const start = c.noDrawSince + s.idleAfterMs;
  if (now < start) return start;
  const cycle = start + Math.floor((now - start) / s.wakeProbeIntervalMs) * s.wakeProbeIntervalMs;
  const probe = cycle + s.wakeProbeIntervalMs - s.wakeProbeMs;
  return now < probe ? probe : cycle + s.wakeProbeIntervalMs;
}

/** The model with the phase limits in force now, remembered for the admission window. */
export function withPhaseLimits(model: BalancerModel, limits: PhaseCurrents, now: number): BalancerModel {
  const history = model.limitHistory ?? [];
  const last = history[history.length - 1];
  const same = last !== undefined && PHASES.every((p) => last.limits[p] === limits[p]);
  const next = same ? history : [...history, { from: now, limits }];
  const horizon = now - model.settings.admissionWindowMs;
  let drop = 0;
  while (drop + 1 < next.length && next[drop + 1]!.from <= horizon) drop++;
  return { ...model, phaseLimits: limits, limitHistory: drop > 0 ? next.slice(drop) : next };
}

/** The lowest limit per phase over the admission window (the limits in force when there is no history). */
export function admissionLimits(model: BalancerModel, now: number): PhaseCurrents {
  const out = { ...model.phaseLimits };
  const history = model.limitHistory ?? [];
  const horizon = now - model.settings.admissionWindowMs;
  history.forEach((h, i) => {
    const end = history[i + 1]?.from ?? Infinity;
    if (end > horizon) for (const p of PHASES) out[p] = Math.min(out[p], h.limits[p]);
  });
  return out;
}

function asAllocInput(c: ChargerModel, now: number, s?: ModelSettings): AllocChargerInput {
  const w = c.wiring;
  const held = s ? raiseHeldUntil(c, now, s) : undefined;
  const asleep = s ? asleepState(c, now, s) : undefined;
  // A pause or a start already commanded counts from the command: to the allocator, a charger told 0
  // is paused (not a long-waiting session due its turn), one told to start is running.
  const commanded = lastCommanded(c);
  const inForce = (c.granted ?? 0) > 0;
  const commandedAt = c.inFlight?.sentAt ?? c.settling?.acceptedAt;
  const pausedSince = commanded === 0 && inForce ? (commandedAt ?? now) : c.pausedSince;
  const runningSince = commanded > 0 && !inForce ? (commandedAt ?? now) : c.runningSince;
  // Not commandable this round, so counted at its worst case off the top: offline, a last command
  // that failed, or a change unanswered for longer than a charger takes to answer (a late acceptor
  // must not leave its share to others while the phase is over its limit). A change that is merely
  // in flight or settling is not: squeezing the others for those seconds paused cars on every swing
  // of the limit, and planDispatch already holds every raise until the room is real.
  const online = c.online && !(c.retryAfter !== undefined && c.retryAfter > now) && !(s !== undefined && c.inFlight !== undefined && now - c.inFlight.sentAt >= s.lateAfterMs);
  return {
    id: w.id,
    phases: w.phases,
    ...(w.phaseRotation ? { phaseRotation: w.phaseRotation } : {}),
    gridPhase: w.gridPhase,
    minCurrent: w.minCurrent,
    maxCurrent: w.maxCurrent,
    priority: w.priority,
    offlineCurrent: w.offlineCurrent,
    ...(w.circuitId !== undefined ? { circuitId: w.circuitId } : {}),
    arrivedAt: c.arrivedAt ?? now,
    ...(c.cap !== undefined ? { cap: c.cap } : {}),
    wantsEnergy: wantsEnergy(c),
    online,
    ...(c.measured ? { measured: c.measured } : {}),
    // Offline: the worst case. Online: what the charger was last told, the reference for the deadband
    // (measured from a decrease still settling, not from the old value, or every further drop of the
    // target while it settles became one more command).
    ...(c.granted !== undefined || c.inFlight ? { currentLimit: online ? commanded : countedValue(c) } : {}),
    ...(c.lastChangeAt !== undefined ? { lastChangeAt: c.lastChangeAt } : {}),
    ...(pausedSince !== undefined ? { pausedSince } : {}),
    ...(runningSince !== undefined ? { runningSince } : {}),
    ...(c.underDrawSince !== undefined ? { underDrawSince: c.underDrawSince } : {}),
    ...(held !== undefined ? { raiseHeldUntil: held } : {}),
    ...(asleep ? { asleep } : {}),
  };
}

export function allocationInput(model: BalancerModel, now: number) {
  return {
    now,
    phaseLimits: model.phaseLimits,
    admissionLimits: admissionLimits(model, now),
    chargers: Object.values(model.chargers).map((c) => asAllocInput(c, now, model.settings)),
    settings: model.settings,
    ...(model.circuits ? { circuits: model.circuits } : {}),
  };
}

/** Grid phases a charger is counted on: measured-drawn phases of a session, else its wiring. */
export function countedPhases(c: ChargerModel, now: number): readonly Phase[] {
  const input = asAllocInput(c, now);
  const wiring = wiringOf(input);
  return phasesOf(input.wantsEnergy ? countedMask(input, wiring) : wiring.mask);
}

/** Sum of counted current per grid phase: what the installation may draw at worst right now. */
export function committedLoad(model: BalancerModel, now: number): PhaseCurrents {
  const load: PhaseCurrents = { L1: 0, L2: 0, L3: 0 };
  for (const c of Object.values(model.chargers)) {
    const v = countedAs(c).value;
    if (v <= 0) continue;
    for (const p of countedPhases(c, now)) load[p] += v;
  }
  return load;
}

// ---- events (each returns a new charger model) ----

export function onConnector(c: ChargerModel, connectorId: number, status: string, now: number): ChargerModel {
  const before = wantsEnergy(c);
  const next = { ...c, fresh: true, connectors: { ...c.connectors, [connectorId]: status } };
  const after = wantsEnergy(next);
  if (after === before) return next;
  // A new session is a new car: the last car's phases and draw say nothing about it.
  const { measured: _m, underDrawSince: _u, noDrawSince: _n, ...fresh } = next;
  if (after) return { ...fresh, arrivedAt: now };
  const { arrivedAt: _a, pausedSince: _p, ...rest } = fresh;
  return rest;
}

export function onConnection(c: ChargerModel, connected: boolean): ChargerModel {
  if (connected) {
    // A charger that drops its profiles offline (or runs a failsafe current of its own) may still do
    // so until it accepts its limit again: it stays counted there.
    const worst = c.wiring.offlineCurrent !== 'lastLimit' && c.granted !== undefined ? offlineWorstCase(c.granted, c.wiring.maxCurrent, c.wiring.offlineCurrent).value : c.granted;
    return { ...c, online: true, needsProfile: true, ...(worst !== undefined ? { granted: worst } : {}) };
  }
  // Whatever was in flight may or may not have been applied: count the higher value.
  const granted = c.inFlight ? Math.max(c.granted ?? c.wiring.maxCurrent, c.inFlight.value) : c.granted;
  const { inFlight: _f, ...rest } = c;
  return { ...rest, online: false, fresh: false, ...(granted !== undefined ? { granted } : {}) };
}

/** A meter sample (A per terminal). Settles a pending decrease once the draw shows it, and tracks under-draw. */
/**
 * `slackA`: readings reach the balancer only when they moved by that much (or grew old), so a car
 * drifting down crosses the reclaim threshold up to a meter-event age before the balancer sees it.
 * The under-draw clock therefore starts at a reading within `slackA` of the threshold; `allocate`
 * still reclaims only on a reading below the threshold itself.
 */
export function onMeter(c: ChargerModel, m: { t1?: number; t2?: number; t3?: number }, at: number, thresholdA: number, toleranceA = 1, slackA = 0): ChargerModel {
  const measured = { t1: m.t1 ?? 0, t2: m.t2 ?? 0, t3: m.t3 ?? 0, at };
  let next: ChargerModel = { ...c, fresh: true, measured };
  const top = Math.max(measured.t1, measured.t2, measured.t3);
  if (next.settling && at > next.settling.acceptedAt && top <= next.settling.value + toleranceA) next = settle(next, at);
  // Drawing above what it is counted at: the charger ignores its limit (or lost it). Count what it
  // really draws, and send its profile again.
  if (!next.inFlight && !next.settling && next.granted !== undefined && top > next.granted + toleranceA) {
    next = { ...next, granted: Math.ceil(top), needsProfile: true, overLimit: true };
  }
  const offer = countedValue(next);
  if (top >= DRAWING_A) {
    if (next.noDrawSince !== undefined) {
      const { noDrawSince: _n, ...rest } = next;
      next = rest;
    }
  } else if (next.noDrawSince === undefined && offer >= next.wiring.minCurrent && offer > 0 && !next.inFlight) {
    next = { ...next, noDrawSince: at };
  }
  return trackUnderDraw(next, at, thresholdA, slackA);
}

/**
 * Starts or stops the under-draw clock from the last reading against the offer. Run on every reading
 * and when an offer rises: a car that keeps drawing its own 8 A when offered more sends no new
 * reading (it did not move), so without this its clock started only at the next max-age reading.
 */
export function trackUnderDraw(c: ChargerModel, at: number, thresholdA: number, slackA = 0): ChargerModel {
  const offer = countedValue(c);
  const m = c.measured;
  if (!m) return c;
  const top = Math.max(m.t1, m.t2, m.t3);
  if (offer > 0 && top < offer - Math.max(0, thresholdA - slackA)) {
    if (c.underDrawSince === undefined) return { ...c, underDrawSince: at };
  } else if (c.underDrawSince !== undefined) {
    const { underDrawSince: _u, ...rest } = c;
    return rest;
  }
  return c;
}

function settle(c: ChargerModel, now: number): ChargerModel {
  if (!c.settling) return c;
  const { settling, ...rest } = c;
  return applyGranted(rest, settling.value, now);
}

function applyGranted(c: ChargerModel, value: number, now: number): ChargerModel {
  const before = c.granted ?? 0;
  const { overLimit: _o, ...rest } = c;
  const next: ChargerModel = { ...rest, granted: value };
  if (value !== before) next.lastChangeAt = now;
  if (value > 0 && before <= 0) {
    next.runningSince = now;
    delete next.pausedSince;
  } else if (value <= 0 && before > 0) {
    delete next.runningSince;
    if (wantsEnergy(c)) next.pausedSince = now;
  }
  return next;
}

/** Settles decreases whose settle time passed. */
export function settleDue(model: BalancerModel, now: number): BalancerModel {
  let changed = false;
  const chargers: Record<string, ChargerModel> = {};
  for (const [id, c] of Object.entries(model.chargers)) {
    if (c.settling && now >= c.settling.acceptedAt + model.settings.settleMs) {
      chargers[id] = settle(c, now);
      changed = true;
    } else chargers[id] = c;
  }
  return changed ? { ...model, chargers } : model;
}

export type ProfileOutcome = 'accepted' | 'rejected' | 'timeout';

/** The answer to a SetChargingProfile the balancer sent. */
export function onProfileResult(c: ChargerModel, value: number, outcome: ProfileOutcome, now: number, retryMs: number): ChargerModel {
  const { inFlight: _f, ...rest } = c;
  const before = c.granted;
  if (outcome === 'accepted') {
    rest.needsProfile = false;
    delete rest.retryAfter;
    // A decrease counts only once it shows in the meter or the settle time passed.
    if (before !== undefined && value < before) return { ...rest, settling: { value, acceptedAt: now } };
    const { settling: _s, ...clean } = rest;
    return applyGranted(clean, value, now);
  }
  const retry = { ...rest, retryAfter: now + retryMs };
  // Rejected: the old limit is still in force. Timeout: the charger may have applied it, or not.
  if (outcome === 'timeout' && (before === undefined || value > before)) return { ...retry, granted: value };
  return retry;
}

export interface ProfileCommand {
  chargerId: string;
  limit: number;
}

/**
 * Which SetChargingProfile calls to send now, given the allocator's targets. Decreases go at once.
 * An increase goes only if, with every unsettled decrease still counted at its old value and every
 * increase in flight at its new value, no phase exceeds its limit.
 */
export function planDispatch(model: BalancerModel, targets: ReadonlyMap<string, { limit: number; phases: readonly Phase[] }>, now: number): ProfileCommand[] {
  const commands: ProfileCommand[] = [];
  const committed = committedLoad(model, now);
  const limits = model.phaseLimits;
  const ids = Object.keys(model.chargers).sort();
  const ready = (c: ChargerModel): boolean => c.online && !c.inFlight && !(c.retryAfter !== undefined && c.retryAfter > now);
  const circuits = circuitBudget(model.circuits, model.circuits?.length ? Object.values(model.chargers).map((c) => ({ circuitId: c.wiring.circuitId, value: countedAs(c).value, phases: countedPhases(c, now) })) : []);

  for (const id of ids) {
    const c = model.chargers[id]!;
    const target = targets.get(id);
    if (!target || !ready(c)) continue;
    const reference = c.settling?.value ?? countedValue(c);
    if (target.limit < reference || (c.needsProfile && target.limit <= reference)) commands.push({ chargerId: id, limit: target.limit });
  }

  const increases = ids
    .map((id) => ({ id, c: model.chargers[id]!, t: targets.get(id) }))
    .filter(({ c, t }) => t && ready(c) && c.fresh && !c.settling && t.limit > countedValue(c))
    .sort((a, b) => b.c.wiring.priority - a.c.wiring.priority || (a.id < b.id ? -1 : 1));
  for (const { id, c, t } of increases) {
    const oldValue = countedValue(c);
    const oldPhases = countedPhases(c, now);
    const next = { ...committed };
    for (const p of oldPhases) next[p] -= oldValue;
    for (const p of t!.phases) next[p] += t!.limit;
    if (PHASES.every((p) => next[p] <= limits[p] + 1e-9 || next[p] <= committed[p]) && circuits.tryRaise(c.wiring.circuitId, oldValue, oldPhases, t!.limit, t!.phases)) {
      commands.push({ chargerId: id, limit: t!.limit });
      Object.assign(committed, next);
    }
  }
  // A charger that (re)connected must hold some profile even while its raise waits for room: it
  // gets the limit it is counted at, so a rebooted charger cannot run at its hardware maximum.
  for (const id of ids) {
    const c = model.chargers[id]!;
    if (c.needsProfile && ready(c) && c.granted !== undefined && !commands.some((x) => x.chargerId === id)) commands.push({ chargerId: id, limit: c.granted });
  }
  return commands;
}

/** A command sent: counted at once if it raises, and paid for from the change budget (when `s` has one). */
export function markSent(c: ChargerModel, limit: number, now: number, s?: ModelSettings): ChargerModel {
  const tokens = s ? tokensAt(c, now, s) : Infinity;
  return { ...c, inFlight: { value: limit, sentAt: now }, ...(tokens !== Infinity ? { budget: { tokens: Math.max(0, tokens - 1), at: now } } : {}) };
}

/** The earliest time at which something time-driven may change the plan (timers in the shell). */
export function nextWakeAt(model: BalancerModel, now: number): number | undefined {
  const s = model.settings;
  let t = Infinity;
  const consider = (v: number | undefined): void => {
    if (v !== undefined && v > now && v < t) t = v;
  };
  for (const c of Object.values(model.chargers)) {
    consider(c.settling && c.settling.acceptedAt + s.settleMs);
    consider(c.inFlight && c.inFlight.sentAt + s.lateAfterMs);
    consider(c.retryAfter);
    consider(c.lastChangeAt !== undefined ? c.lastChangeAt + s.minChangeIntervalMs : undefined);
    consider(c.pausedSince !== undefined ? c.pausedSince + s.minPauseMs : undefined);
    // A session waits since its pause, or since it arrived when it was never admitted (allocate's rotation rule).
    const waitingSince = c.pausedSince ?? c.arrivedAt;
    consider(waitingSince !== undefined ? waitingSince + s.rotationIntervalMs : undefined);
    consider(c.runningSince !== undefined ? c.runningSince + s.minRunMs : undefined);
    consider(c.underDrawSince !== undefined ? c.underDrawSince + s.reclaimAfterMs : undefined);
    consider(raiseHeldUntil(c, now, s));
    consider(nextAsleepChange(c, now, s));
  }
  const history = model.limitHistory ?? [];
  for (let i = 1; i < history.length; i++) consider(history[i]!.from + s.admissionWindowMs);
  return t === Infinity ? undefined : t;
}
