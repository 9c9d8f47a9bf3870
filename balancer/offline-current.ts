/**
 * What a charger that cannot be commanded will physically do, so what the balancer counts it at.
 * Shared by `allocate()` and the balancer model so both count an offline charger alike. Pure.
 *
 * OCPP 1.6 (errata 3.37, 5.16) says charging profiles persist across reboots and 3.13.6 that an
 * offline charger keeps using them: by default it counts at its last accepted limit, 0 A included.
 * Chargers known to drop their profiles are configured `max`; chargers that fall back to a current
 * of their own are configured with that current (a number). A limit never accepted counts at the
 * maximum: nothing is known about what the charger does.
 */
import type { OfflineCurrent } from '../core/model.js';

export type { OfflineCurrent };

/** Why an offline charger is counted at its value (shown in the installation status). */
export type OfflineBasis = 'offline: last limit' | 'offline: max' | 'failsafe';

export function offlineWorstCase(
  lastLimit: number | undefined,
  maxCurrent: number,
  setting: OfflineCurrent | undefined,
): { value: number; basis: OfflineBasis } {
  const max = maxCurrent > 0 ? maxCurrent : 0;
  if (lastLimit === undefined || !Number.isFinite(lastLimit)) return { value: max, basis: 'offline: max' };
  const last = Math.max(0, lastLimit);
  if (setting === 'max') return { value: Math.max(last, max), basis: 'offline: max' };
  if (typeof setting === 'number' && Number.isFinite(setting)) {
    // Until its own timeout it still applies the last limit; after it, its failsafe current.
    const failsafe = Math.min(Math.max(0, setting), max);
    return failsafe > last ? { value: failsafe, basis: 'failsafe' } : { value: last, basis: 'offline: last limit' };
  }
  return { value: last, basis: 'offline: last limit' };
}
