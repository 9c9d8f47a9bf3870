/**
 * A charger's anti-churn clocks: its change budget (a token bucket per charger) and the sleep of a
 * car that draws nothing while offered current (asleep, woken by short probes). Pure.
 */
import type { ChargerModel, ModelSettings } from './balancer-model.js';

/** A raise needs the token it spends and one for the decrease that may follow it. */
const RAISE_TOKENS = 2;
const HOUR_MS = 3_600_000;

type BudgetSettings = Pick<ModelSettings, 'changesPerHour' | 'changeBurst'>;
type SleepSettings = Pick<ModelSettings, 'idleAfterMs' | 'wakeProbeIntervalMs' | 'wakeProbeMs'>;

/** Change-budget tokens a charger has at `now` (Infinity without a budget). */
export function tokensAt(c: Pick<ChargerModel, 'budget'>, now: number, s: BudgetSettings): number {
  if (!(s.changesPerHour > 0)) return Infinity;
  if (!c.budget) return s.changeBurst;
  return Math.min(s.changeBurst, c.budget.tokens + ((now - c.budget.at) * s.changesPerHour) / HOUR_MS);
}

/** When the charger will have the tokens for a raise again; undefined when it has them now. */
export function raiseHeldUntil(c: Pick<ChargerModel, 'budget'>, now: number, s: BudgetSettings): number | undefined {
  const tokens = tokensAt(c, now, s);
  if (tokens >= RAISE_TOKENS) return undefined;
  return now + Math.ceil(((RAISE_TOKENS - tokens) * HOUR_MS) / s.changesPerHour);
}

/** Asleep (drawing nothing for `idleAfterMs` while offered): sleeping, or probing at its minimum. */
export function asleepState(c: Pick<ChargerModel, 'noDrawSince'>, now: number, s: SleepSettings): 'sleeping' | 'probing' | undefined {
  if (c.noDrawSince === undefined || !(s.idleAfterMs > 0) || !(s.wakeProbeIntervalMs > 0)) return undefined;
  const e = now - c.noDrawSince - s.idleAfterMs;
  if (e < 0) return undefined;
  return e % s.wakeProbeIntervalMs < s.wakeProbeIntervalMs - s.wakeProbeMs ? 'sleeping' : 'probing';
}

/** The next time `asleepState` changes. */
export function nextAsleepChange(c: Pick<ChargerModel, 'noDrawSince'>, now: number, s: SleepSettings): number | undefined {
  if (c.noDrawSince === undefined || !(s.idleAfterMs > 0) || !(s.wakeProbeIntervalMs > 0)) return undefined;
  const start = c.noDrawSince + s.idleAfterMs;
  if (now < start) return start;
  const cycle = start + Math.floor((now - start) / s.wakeProbeIntervalMs) * s.wakeProbeIntervalMs;
  const probe = cycle + s.wakeProbeIntervalMs - s.wakeProbeMs;
  return now < probe ? probe : cycle + s.wakeProbeIntervalMs;
}
