import type { ChargingProfile, StoredProfile } from '../core/partner-store.js';
import type { RequestOf, ResponseOf } from '../ocpp/actions.js';

/**
 * Partner charging profiles as data. The partner's SetChargingProfile never reaches the charger: the
 * bridge keeps the profiles and turns them into one cap (A per phase) that the balancer respects. Pure
 * functions of the profiles and the time; nothing here reads storage or the clock.
 *
 * Simplifications, stated once: a charger is one unit for the balancer, so a profile on any connector
 * caps the whole charger; a Relative profile starts when the partner set it; watts become amperes at
 * 230 V per phase over the profile's `numberPhases` (else the charger's phases).
 */

export type { ChargingProfile, StoredProfile };
export type ChargingSchedule = ChargingProfile['chargingSchedule'];
export type CompositeSchedule = NonNullable<ResponseOf<'GetCompositeSchedule'>['chargingSchedule']>;

export const VOLTS_PER_PHASE = 230;
const DAY_MS = 24 * 3600 * 1000;

/** A limit in force and until when it holds (undefined: until the profile changes). */
export interface LimitAt {
  limitA: number;
  until?: number;
}

const ms = (iso: string | undefined): number | undefined => (iso === undefined ? undefined : Date.parse(iso));

function toAmps(limit: number, unit: ChargingSchedule['chargingRateUnit'], phases: number): number {
  return unit === 'A' ? limit : limit / (VOLTS_PER_PHASE * Math.max(1, phases));
}

/** Start of the schedule in force at `now`, or undefined when it has not started. */
function scheduleStart(sp: StoredProfile, now: number): { start: number; nextStart?: number } | undefined {
  const p = sp.profile;
  const own = ms(p.chargingSchedule.startSchedule) ?? ms(sp.setAt) ?? now;
  if (p.chargingProfileKind === 'Relative') return { start: ms(sp.setAt) ?? now };
  if (p.chargingProfileKind === 'Absolute') return own <= now ? { start: own } : undefined;
  const period = p.recurrencyKind === 'Weekly' ? 7 * DAY_MS : DAY_MS;
  if (own > now) return undefined;
  const start = own + Math.floor((now - own) / period) * period;
  return { start, nextStart: start + period };
}

/** The limit one profile imposes at `now` (amperes), or undefined when it imposes none then. */
export function profileLimitAt(sp: StoredProfile, now: number, chargerPhases: number): LimitAt | undefined {
  const p = sp.profile;
  const validFrom = ms(p.validFrom);
  const validTo = ms(p.validTo);
  if (validFrom !== undefined && now < validFrom) return undefined;
  if (validTo !== undefined && now >= validTo) return undefined;
  const s = scheduleStart(sp, now);
  if (!s) return undefined;
  const schedule = p.chargingSchedule;
  const elapsedS = (now - s.start) / 1000;
  if (schedule.duration !== undefined && elapsedS >= schedule.duration) return undefined;
  const periods = [...schedule.chargingSchedulePeriod].sort((a, b) => a.startPeriod - b.startPeriod);
  let current: (typeof periods)[number] | undefined;
  let next: number | undefined;
  for (const period of periods) {
    if (period.startPeriod <= elapsedS) current = period;
    else {
      next = s.start + period.startPeriod * 1000;
      break;
    }
  }
  if (!current) return undefined;
  const ends = [next, schedule.duration !== undefined ? s.start + schedule.duration * 1000 : undefined, validTo, s.nextStart].filter(
    (t): t is number => t !== undefined,
  );
  const limitA = toAmps(current.limit, schedule.chargingRateUnit, current.numberPhases ?? chargerPhases);
  return ends.length > 0 ? { limitA, until: Math.min(...ends) } : { limitA };
}

/** When a profile that has not started yet will start (so a cap can be recomputed then). */
function startsAt(sp: StoredProfile, now: number): number | undefined {
  const validFrom = ms(sp.profile.validFrom);
  if (validFrom !== undefined && validFrom > now) return validFrom;
  const own = ms(sp.profile.chargingSchedule.startSchedule);
  if (sp.profile.chargingProfileKind !== 'Relative' && own !== undefined && own > now) return own;
  return undefined;
}

/** Of one purpose: the highest stack level that imposes a limit now. */
function purposeLimit(profiles: readonly StoredProfile[], purpose: ChargingProfile['chargingProfilePurpose'], now: number, phases: number): LimitAt | undefined {
  const candidates = profiles.filter((p) => p.profile.chargingProfilePurpose === purpose).sort((a, b) => b.profile.stackLevel - a.profile.stackLevel);
  for (const c of candidates) {
    const l = profileLimitAt(c, now, phases);
    if (l) return l;
  }
  return undefined;
}

/**
 * The cap the profiles impose at `now`: the lower of ChargePointMaxProfile and the transaction's
 * profile (TxProfile over TxDefaultProfile). `until` is the next time the answer may change.
 */
export function capFromProfiles(profiles: readonly StoredProfile[], now: number, phases: number): { limitA?: number; until?: number } {
  const max = purposeLimit(profiles, 'ChargePointMaxProfile', now, phases);
  const tx = purposeLimit(profiles, 'TxProfile', now, phases) ?? purposeLimit(profiles, 'TxDefaultProfile', now, phases);
  const limits = [max, tx].filter((l): l is LimitAt => l !== undefined);
  // Any profile that starts or changes later bounds how long this answer holds.
  const changes = [...limits.map((l) => l.until), ...profiles.map((p) => startsAt(p, now))].filter((t): t is number => t !== undefined && t > now);
  const until = changes.length > 0 ? Math.min(...changes) : undefined;
  if (limits.length === 0) return until !== undefined ? { until } : {};
  const limitA = Math.max(0, Math.floor(Math.min(...limits.map((l) => l.limitA))));
  return until !== undefined ? { limitA, until } : { limitA };
}

/**
 * GetCompositeSchedule: the combined limit over [now, now + duration], as periods relative to now.
 * Where no profile limits, the charger's own maximum applies. Limits are whole amperes (or watts),
 * which every validator's `multipleOf: 0.1` accepts exactly.
 */
export function compositeSchedule(
  profiles: readonly StoredProfile[],
  now: number,
  durationS: number,
  unit: ChargingSchedule['chargingRateUnit'] | undefined,
  charger: { maxCurrent: number; phases: number },
): CompositeSchedule {
  const end = now + durationS * 1000;
  const periods: { startPeriod: number; limit: number }[] = [];
  let t = now;
  for (let guard = 0; t < end && guard < 1000; guard++) {
    const cap = capFromProfiles(profiles, t, charger.phases);
    const amps = Math.min(cap.limitA ?? charger.maxCurrent, charger.maxCurrent);
    const limit = unit === 'W' ? Math.floor(amps * VOLTS_PER_PHASE * charger.phases) : Math.floor(amps);
    const startPeriod = Math.round((t - now) / 1000);
    const last = periods.at(-1);
    if (last && last.startPeriod === startPeriod) last.limit = limit;
    else if (last?.limit !== limit) periods.push({ startPeriod, limit });
    if (cap.until === undefined || cap.until <= t) break;
    t = cap.until;
  }
  return {
    duration: durationS,
    startSchedule: new Date(now).toISOString(),
    chargingRateUnit: unit ?? 'A',
    chargingSchedulePeriod: periods,
  };
}

/** ClearChargingProfile's criteria (all given ones must match); true when a profile goes. */
export function matchesClear(sp: StoredProfile, req: RequestOf<'ClearChargingProfile'>): boolean {
  if (req.id !== undefined) return sp.profile.chargingProfileId === req.id;
  if (req.connectorId !== undefined && sp.connectorId !== req.connectorId) return false;
  if (req.chargingProfilePurpose !== undefined && sp.profile.chargingProfilePurpose !== req.chargingProfilePurpose) return false;
  if (req.stackLevel !== undefined && sp.profile.stackLevel !== req.stackLevel) return false;
  return true;
}

/** SetChargingProfile replaces a profile with the same id, or the same connector, purpose and stack level. */
export function withProfile(profiles: readonly StoredProfile[], next: StoredProfile): StoredProfile[] {
  const p = next.profile;
  const kept = profiles.filter(
    (o) =>
      o.profile.chargingProfileId !== p.chargingProfileId &&
      !(o.connectorId === next.connectorId && o.profile.chargingProfilePurpose === p.chargingProfilePurpose && o.profile.stackLevel === p.stackLevel),
  );
  return [...kept, next];
}
