import type { RequestOf, ResponseOf } from '../ocpp/actions.js';

/**
 * How an OCPP 1.6 charge point composes the charging profiles it holds (1.6 §3.13, §5.16, §6.43),
 * as pure functions over an immutable list: installing (replacement by id, and by stack level and
 * purpose on the same connector), clearing, the limit in force at an instant, and the composite
 * schedule over a window. The limit in force is the lower of the ChargePointMaxProfile and the
 * transaction profile (the TxProfile of the running transaction, else the TxDefaultProfile), each
 * taken from the highest stack level whose schedule covers that instant. Times are ms on the
 * charger's clock (its RTC); schedule offsets are in seconds as on the wire.
 */

export type ChargingProfile = RequestOf<'SetChargingProfile'>['csChargingProfiles'];
export type Purpose = ChargingProfile['chargingProfilePurpose'];

export interface InstalledProfile {
  readonly connectorId: number;
  readonly profile: ChargingProfile;
  /** Install order: the later of two equal candidates wins. */
  readonly seq: number;
}

export interface ActiveTransaction {
  readonly transactionId: number;
  readonly startedAt: number;
}

export interface ProfileContext {
  /** Connectors 1..n. */
  readonly connectors: number;
  /** ChargeProfileMaxStackLevel. */
  readonly maxStackLevel: number;
  /** The running transaction per connector. */
  readonly transactions: ReadonlyMap<number, ActiveTransaction>;
  /** Volts per phase, to convert W schedules to A. */
  readonly voltage: number;
  /** Phases a W limit is spread over when the period does not say (numberPhases). */
  readonly phases: number;
  /** Hardware limit (A per phase): the composite schedule reports it where no profile applies. */
  readonly maxCurrent: number;
  /** ChargingScheduleAllowedChargingRateUnit. */
  readonly allowedUnits: readonly ('A' | 'W')[];
}

/** The context of a charger with one connector that takes A and W schedules; `tx` is its running transaction. */
export function oneConnectorContext(c: { maxStackLevel: number; tx: { transactionId: number; startedAtWall: number } | undefined; voltage: number; phases: number; maxCurrent: number }): ProfileContext {
  return {
    connectors: 1,
    maxStackLevel: c.maxStackLevel,
    transactions: new Map(c.tx ? [[1, { transactionId: c.tx.transactionId, startedAt: c.tx.startedAtWall }]] : []),
    voltage: c.voltage,
    phases: c.phases,
    maxCurrent: c.maxCurrent,
    allowedUnits: ['A', 'W'],
  };
}

const DAY_S = 86_400;
const WEEK_S = 7 * DAY_S;

type SetResult = { status: ResponseOf<'SetChargingProfile'>['status']; profiles: readonly InstalledProfile[] };

/** Validates and installs a SetChargingProfile request (1.6 §5.16). */
export function setChargingProfile(profiles: readonly InstalledProfile[], req: RequestOf<'SetChargingProfile'>, ctx: ProfileContext): SetResult {
  const p = req.csChargingProfiles;
  const c = req.connectorId;
  const rejected: SetResult = { status: 'Rejected', profiles };
  if (!Number.isInteger(c) || c < 0 || c > ctx.connectors) return rejected;
  if (p.stackLevel > ctx.maxStackLevel) return rejected;
  if (!ctx.allowedUnits.includes(p.chargingSchedule.chargingRateUnit)) return rejected;
  if (!periodsValid(p.chargingSchedule.chargingSchedulePeriod)) return rejected;
  if (p.chargingProfileKind === 'Recurring' && (!p.recurrencyKind || !p.chargingSchedule.startSchedule)) return rejected;
  if (p.chargingProfilePurpose === 'ChargePointMaxProfile' && c !== 0) return rejected;
  if (p.chargingProfilePurpose === 'TxProfile') {
    const tx = ctx.transactions.get(c);
    if (c === 0 || !tx) return rejected;
    if (p.transactionId !== undefined && p.transactionId !== tx.transactionId) return rejected;
  }
  const kept = profiles.filter(
    (x) =>
      x.profile.chargingProfileId !== p.chargingProfileId &&
      !(x.connectorId === c && x.profile.stackLevel === p.stackLevel && x.profile.chargingProfilePurpose === p.chargingProfilePurpose),
  );
  const seq = profiles.reduce((m, x) => Math.max(m, x.seq), 0) + 1;
  return { status: 'Accepted', profiles: [...kept, { connectorId: c, profile: p, seq }] };
}

function periodsValid(periods: readonly { startPeriod: number; limit: number }[]): boolean {
  if (periods.length === 0 || periods[0]?.startPeriod !== 0) return false;
  for (let i = 0; i < periods.length; i++) {
    const period = periods[i]!;
    if (!(period.limit >= 0) || (i > 0 && period.startPeriod <= periods[i - 1]!.startPeriod)) return false;
  }
  return true;
}

/** ClearChargingProfile (1.6 §5.5): by id, else every profile matching all the given criteria. */
export function clearChargingProfile(
  profiles: readonly InstalledProfile[],
  req: RequestOf<'ClearChargingProfile'>,
): { status: ResponseOf<'ClearChargingProfile'>['status']; profiles: readonly InstalledProfile[] } {
  const matches = (x: InstalledProfile): boolean =>
    req.id !== undefined
      ? x.profile.chargingProfileId === req.id
      : (req.connectorId === undefined || x.connectorId === req.connectorId) &&
        (req.chargingProfilePurpose === undefined || x.profile.chargingProfilePurpose === req.chargingProfilePurpose) &&
        (req.stackLevel === undefined || x.profile.stackLevel === req.stackLevel);
  const kept = profiles.filter((x) => !matches(x));
  return kept.length === profiles.length ? { status: 'Unknown', profiles } : { status: 'Accepted', profiles: kept };
}

/** A TxProfile lives as long as its transaction (1.6 §3.13.4). */
export function endTransaction(profiles: readonly InstalledProfile[], connectorId: number): readonly InstalledProfile[] {
  return profiles.filter((x) => !(x.connectorId === connectorId && x.profile.chargingProfilePurpose === 'TxProfile'));
}

/** When the schedule's offset 0 is, at time `at`. Undefined: the profile does not apply. */
function scheduleStart(p: ChargingProfile, at: number, txStart: number | undefined): number | undefined {
  const s = p.chargingSchedule;
  if (p.chargingProfileKind === 'Relative') return txStart ?? at;
  if (p.chargingProfileKind === 'Absolute') return s.startSchedule ? Date.parse(s.startSchedule) : (txStart ?? at);
  // Recurring: the latest cycle start not after `at`.
  if (!s.startSchedule) return undefined;
  const first = Date.parse(s.startSchedule);
  const cycle = (p.recurrencyKind === 'Weekly' ? WEEK_S : DAY_S) * 1000;
  return first + Math.floor((at - first) / cycle) * cycle;
}

type Period = ChargingProfile['chargingSchedule']['chargingSchedulePeriod'][number];

/** The limit (A per phase) a single profile sets at `at`, or undefined when it has no period then. */
export function profileLimitAt(p: ChargingProfile, at: number, ctx: ProfileContext, txStart: number | undefined): number | undefined {
  const period = periodAt(p, at, txStart);
  if (!period) return undefined;
  return p.chargingSchedule.chargingRateUnit === 'A' ? period.limit : period.limit / (ctx.voltage * (period.numberPhases ?? ctx.phases));
}

/** The period of a single profile in force at `at`, or undefined. */
function periodAt(p: ChargingProfile, at: number, txStart: number | undefined): Period | undefined {
  if (p.validFrom && at < Date.parse(p.validFrom)) return undefined;
  if (p.validTo && at >= Date.parse(p.validTo)) return undefined;
  const start = scheduleStart(p, at, txStart);
  if (start === undefined) return undefined;
  const elapsedS = (at - start) / 1000;
  const s = p.chargingSchedule;
  if (elapsedS < 0 || (s.duration !== undefined && elapsedS >= s.duration)) return undefined;
  let period: Period | undefined;
  for (const x of s.chargingSchedulePeriod) if (x.startPeriod <= elapsedS) period = x;
  return period;
}

/** Highest stack level with a period at `at`; at equal level a connector's own profile, then the newer. */
function prevailing(candidates: readonly InstalledProfile[], at: number, ctx: ProfileContext, txStart: number | undefined): number | undefined {
  return prevailingProfile(candidates, at, ctx, txStart)?.limit;
}

function prevailingProfile(candidates: readonly InstalledProfile[], at: number, ctx: ProfileContext, txStart: number | undefined): { limit: number; profile: ChargingProfile } | undefined {
  let best: InstalledProfile | undefined;
  let bestLimit: number | undefined;
  for (const x of candidates) {
    const limit = profileLimitAt(x.profile, at, ctx, txStart);
    if (limit === undefined) continue;
    const better =
      !best ||
      x.profile.stackLevel > best.profile.stackLevel ||
      (x.profile.stackLevel === best.profile.stackLevel && (x.connectorId > best.connectorId || (x.connectorId === best.connectorId && x.seq > best.seq)));
    if (better) {
      best = x;
      bestLimit = limit;
    }
  }
  return best && bestLimit !== undefined ? { limit: bestLimit, profile: best.profile } : undefined;
}

/**
 * The limit in force on a connector at `at` (A per phase), or undefined when no profile applies
 * (the charger then uses its own maximum). Connector 0 gives the ChargePointMaxProfile alone.
 */
export function compositeLimit(profiles: readonly InstalledProfile[], connectorId: number, at: number, ctx: ProfileContext): number | undefined {
  const max = prevailing(
    profiles.filter((x) => x.profile.chargingProfilePurpose === 'ChargePointMaxProfile'),
    at,
    ctx,
    undefined,
  );
  if (connectorId === 0) return max;
  const tx = ctx.transactions.get(connectorId);
  const txStart = tx?.startedAt;
  let txLimit: number | undefined;
  if (tx) {
    txLimit = prevailing(
      profiles.filter(
        (x) =>
          x.connectorId === connectorId &&
          x.profile.chargingProfilePurpose === 'TxProfile' &&
          (x.profile.transactionId === undefined || x.profile.transactionId === tx.transactionId),
      ),
      at,
      ctx,
      txStart,
    );
  }
  txLimit ??= prevailing(
    profiles.filter((x) => x.profile.chargingProfilePurpose === 'TxDefaultProfile' && (x.connectorId === 0 || x.connectorId === connectorId)),
    at,
    ctx,
    txStart,
  );
  if (max === undefined) return txLimit;
  if (txLimit === undefined) return max;
  return Math.min(max, txLimit);
}

/**
 * The phases the car may draw on at `at` (1.6 §7.13 `numberPhases`): the fewest that the prevailing
 * ChargePointMaxProfile and transaction profile allow; undefined when neither says (all of them).
 */
export function compositeNumberPhases(profiles: readonly InstalledProfile[], connectorId: number, at: number, ctx: ProfileContext): number | undefined {
  const tx = ctx.transactions.get(connectorId);
  const txStart = tx?.startedAt;
  const phasesOf = (purposeOk: (x: InstalledProfile) => boolean, start: number | undefined): number | undefined => {
    const best = prevailingProfile(profiles.filter(purposeOk), at, ctx, start);
    return best ? periodAt(best.profile, at, start)?.numberPhases : undefined;
  };
  const max = phasesOf((x) => x.profile.chargingProfilePurpose === 'ChargePointMaxProfile', undefined);
  const own = (x: InstalledProfile): boolean => x.connectorId === connectorId && x.profile.chargingProfilePurpose === 'TxProfile' && (x.profile.transactionId === undefined || x.profile.transactionId === tx?.transactionId);
  const txHas = tx !== undefined && prevailingProfile(profiles.filter(own), at, ctx, txStart) !== undefined;
  const txPhases = txHas
    ? phasesOf(own, txStart)
    : phasesOf((x) => x.profile.chargingProfilePurpose === 'TxDefaultProfile' && (x.connectorId === 0 || x.connectorId === connectorId), txStart);
  const given = [max, txPhases].filter((n): n is number => n !== undefined);
  return given.length === 0 ? undefined : Math.min(...given);
}

/** Instants in [from, to) where some profile's limit may change. */
function breakpoints(profiles: readonly InstalledProfile[], from: number, to: number, ctx: ProfileContext, connectorId: number): number[] {
  const out = new Set<number>([from]);
  const add = (t: number): void => {
    if (t > from && t < to) out.add(t);
  };
  const txStart = ctx.transactions.get(connectorId)?.startedAt;
  for (const { profile: p } of profiles) {
    if (p.validFrom) add(Date.parse(p.validFrom));
    if (p.validTo) add(Date.parse(p.validTo));
    const s = p.chargingSchedule;
    const starts: number[] = [];
    if (p.chargingProfileKind === 'Recurring') {
      const cycle = (p.recurrencyKind === 'Weekly' ? WEEK_S : DAY_S) * 1000;
      for (let st = scheduleStart(p, from, txStart); st !== undefined && st < to; st += cycle) starts.push(st);
    } else {
      const st = scheduleStart(p, from, txStart);
      if (st !== undefined) starts.push(st);
    }
    for (const st of starts) {
      for (const x of s.chargingSchedulePeriod) add(st + x.startPeriod * 1000);
      if (s.duration !== undefined) add(st + s.duration * 1000);
    }
  }
  return [...out].sort((a, b) => a - b);
}

/** GetCompositeSchedule (1.6 §5.7): the limit in force from `from` for `durationS`, as periods. */
export function compositeSchedule(
  profiles: readonly InstalledProfile[],
  req: RequestOf<'GetCompositeSchedule'>,
  from: number,
  ctx: ProfileContext,
): ResponseOf<'GetCompositeSchedule'> {
  if (req.connectorId < 0 || req.connectorId > ctx.connectors) return { status: 'Rejected' };
  const unit = req.chargingRateUnit ?? 'A';
  if (!ctx.allowedUnits.includes(unit)) return { status: 'Rejected' };
  const to = from + req.duration * 1000;
  const factor = unit === 'A' ? 1 : ctx.voltage * ctx.phases;
  const periods: { startPeriod: number; limit: number }[] = [];
  for (const t of breakpoints(profiles, from, to, ctx, req.connectorId)) {
    const limitA = compositeLimit(profiles, req.connectorId, t, ctx) ?? ctx.maxCurrent;
    const limit = Math.round(Math.min(limitA, ctx.maxCurrent) * factor * 10) / 10;
    const startPeriod = Math.round((t - from) / 1000);
    const last = periods[periods.length - 1];
    if (last && last.limit === limit) continue;
    if (last && last.startPeriod === startPeriod) last.limit = limit;
    else periods.push({ startPeriod, limit });
  }
  const startSchedule = new Date(from).toISOString();
  return {
    status: 'Accepted',
    connectorId: req.connectorId,
    scheduleStart: startSchedule,
    chargingSchedule: { duration: req.duration, startSchedule, chargingRateUnit: unit, chargingSchedulePeriod: periods },
  };
}
