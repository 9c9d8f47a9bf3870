import type { ProfilePurpose } from '../core/model.js';
import type { RequestOf } from '../ocpp/actions.js';

/**
 * Fixed ids per purpose: a new SetChargingProfile with the same id replaces the previous one on the
 * charger (OCPP 1.6 §5.16), so a charger never accumulates the balancer's profiles.
 */
const PROFILE_IDS: Record<ProfilePurpose, number> = { ChargePointMaxProfile: 9001, TxDefaultProfile: 9002, TxProfile: 9003 };
/** Level 1 exists on every charger (ChargeProfileMaxStackLevel >= 1) and is above factory defaults at 0. */
const STACK_LEVEL = 1;
/** Starts a minute in the past so a charger whose clock runs behind applies it at once. */
export const CLOCK_SKEW_MS = 60_000;

/**
 * The SetChargingProfile that makes `limitA` (per phase) the charger's limit from now on.
 * TxProfile needs the running transaction; without one the limit goes out as TxDefaultProfile so
 * that the next session starts within it. `numberPhases` only for chargers with `phaseSwitching`
 * (1.6 §7.13: the phases to charge on); any other charger never gets it.
 */
export function limitProfile(
  purpose: ProfilePurpose,
  limitA: number,
  now: number,
  activeTx?: { transactionId: number; connectorId: number },
  numberPhases?: 1 | 3,
): RequestOf<'SetChargingProfile'> {
  const effective: ProfilePurpose = purpose === 'TxProfile' && !activeTx ? 'TxDefaultProfile' : purpose;
  // Rounded down: a limit is never sent above what was granted.
  const limit = Math.floor(limitA * 10 + 1e-6) / 10;
  return {
    connectorId: effective === 'TxProfile' && activeTx ? activeTx.connectorId : 0,
    csChargingProfiles: {
      chargingProfileId: PROFILE_IDS[effective],
      ...(effective === 'TxProfile' && activeTx ? { transactionId: activeTx.transactionId } : {}),
      stackLevel: STACK_LEVEL,
      chargingProfilePurpose: effective,
      chargingProfileKind: 'Absolute',
      chargingSchedule: {
        startSchedule: new Date(now - CLOCK_SKEW_MS).toISOString(),
        chargingRateUnit: 'A',
        chargingSchedulePeriod: [numberPhases === undefined ? { startPeriod: 0, limit } : { startPeriod: 0, limit, numberPhases }],
      },
    },
  };
}
