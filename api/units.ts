import { create, unitDependencies, type FactoryFunctionMap, type Unit } from 'mathjs';
import { ValidationError } from '../core/errors.js';

// Only the unit machinery, not all of mathjs; and no expression evaluation of user input.
const unit = create({ unitDependencies } as FactoryFunctionMap).unit as (text: string) => Unit;
const AMPERE = unit('A');

/**
 * A current as users may write it: a number of amperes, or a string with a unit that mathjs parses
 * (`"63 A"`, `"0.063 kA"`, `"6300 mA"`). A bare number in a string or any other unit is rejected.
 * Range checks stay with the schemas; this only converts.
 */
export function toAmperes(value: unknown, field: string): unknown {
  if (typeof value !== 'string') return value;
  let parsed: Unit;
  try {
    parsed = unit(value.trim());
  } catch {
    throw new ValidationError(field, 'must be a number of amperes or a current with its unit, e.g. "63 A" or "0.063 kA"');
  }
  if (parsed.value === null || !parsed.equalBase(AMPERE)) {
    throw new ValidationError(field, `must be a current in amperes (A, kA, mA), not ${parsed.value === null ? 'a bare unit' : parsed.formatUnits() || 'a bare number'}`);
  }
  const amperes = parsed.toNumber('A');
  if (!Number.isFinite(amperes)) throw new ValidationError(field, 'must be a finite current');
  // 0.063 kA is 63.00000000000001 A in binary floating point.
  return Math.round(amperes * 1e6) / 1e6;
}

/** Converts the listed keys of `obj` in place (on a copy) when present. */
export function convertCurrents<T>(obj: T, keys: readonly string[], prefix: string): T {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return obj;
  const out: Record<string, unknown> = { ...(obj as Record<string, unknown>) };
  for (const k of keys) if (k in out && out[k] !== null) out[k] = toAmperes(out[k], prefix ? `${prefix}.${k}` : k);
  return out as T;
}
