import { balancerSettingsSchema } from '../core/schemas.js';
import type { InstallationSpec } from './scenario.js';

const DEFAULTS = { hold: balancerSettingsSchema.properties.phaseSwitchHoldMs.default, max: balancerSettingsSchema.properties.maxPhaseSwitches.default };

/**
 * 1/3-phase switching settings of a scenario's installation for the platform: the hold is a duration,
 * compressed like the other balancer timers (the platform's default too); the count is not.
 */
export function phaseSwitchSettings(b: InstallationSpec['balancer'], k: number): { phaseSwitchHoldMs: number; maxPhaseSwitches: number } {
  return { phaseSwitchHoldMs: Math.round((b?.phaseSwitchHoldMs ?? DEFAULTS.hold) / k), maxPhaseSwitches: b?.maxPhaseSwitches ?? DEFAULTS.max };
}
