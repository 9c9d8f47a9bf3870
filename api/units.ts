import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FactoryFunctionMap, MathJsInstance, Unit } from 'mathjs';
import { ValidationError } from '../core/errors.js';

// Only the unit machinery, not all of mathjs; and no expression evaluation of user input. mathjs's
// entry point builds every function it has at import (about 95 MiB RSS and 33 MiB of heap per node,
// measured with node --expose-gc); its own core and the unit's generated dependency list cost a
// third of that. Its package exports do not list these files, so they are required by path from the
// pinned version (test/api/units.test.ts fails if a new mathjs moves them).
// Loaded on the first current written with a unit, not at import: even this third is about 8 MiB
// of heap and 20 MiB RSS per node (and its load-time garbage leaves the heap that much larger), while
// most requests give plain numbers, which never need it. The first such request pays the load
// (about 0.3 s of CPU, once per process).
const require = createRequire(import.meta.url);
type UnitParser = (text: string) => Unit;
let units: { unit: UnitParser; ampere: Unit } | undefined;

function loadUnits(): { unit: UnitParser; ampere: Unit } {
  const mathjsDir = dirname(require.resolve('mathjs'));
  const { create } = require(join(mathjsDir, 'core/create.js')) as { create: (factories: FactoryFunctionMap) => MathJsInstance };
  const { unitDependencies } = require(join(mathjsDir, 'entry/dependenciesAny/dependenciesUnitFunction.generated.js')) as { unitDependencies: FactoryFunctionMap };
  const unit = create({ unitDependencies }).unit as UnitParser;
  return { unit, ampere: unit('A') };
}

/**
 * A current as users may write it: a number of amperes, or a string with a unit that mathjs parses
 * (`"63 A"`, `"0.063 kA"`, `"6300 mA"`). A bare number in a string or any other unit is rejected.
 * Range checks stay with the schemas; this only converts.
 */
export function toAmperes(value: unknown, field: string): unknown {
  if (typeof value !== 'string') return value;
  const { unit, ampere } = (units ??= loadUnits());
  let parsed: Unit;
  try {
    parsed = unit(value.trim());
  } catch {
    throw new ValidationError(field, 'must be a number of amperes or a current with its unit, e.g. "63 A" or "0.063 kA"');
  }
  if (parsed.value === null || !parsed.equalBase(ampere)) {
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
