import { describe, expect, it } from 'vitest';
import { ConfigCache } from '../../core/config-cache.js';
import type { Charger } from '../../core/model.js';
import { VerboseChargers } from '../../south/ocpp-log.js';

const charger = (id: string, verboseLoggingUntil?: string): Charger =>
  ({ id, installationId: 'inst-1', ocpp: verboseLoggingUntil ? { verboseLoggingUntil } : {} }) as unknown as Charger;

/** What the cache's KV watch does for a put or a delete. */
function update(cache: ConfigCache, id: string, value: Charger | undefined): void {
  const prev = cache.chargers.get(id);
  if (value) cache.chargers.set(id, value);
  else cache.chargers.delete(id);
  cache.emit('charger', id, value, prev);
}

describe('VerboseChargers', () => {
  const now = Date.parse('2026-12-05T12:00:00Z');

  it('logs periodic calls only of a charger whose window is open, following the configuration', () => {
    const cache = new ConfigCache();
    // Known before: found by the first scan.
    cache.chargers.set('CP-1', charger('CP-1', '2026-12-05T13:00:00Z'));
    cache.chargers.set('CP-2', charger('CP-2'));
    const verbose = new VerboseChargers(cache);
    expect(verbose.periodicLogged('CP-1', 'MeterValues', now)).toBe(true);
    expect(verbose.periodicLogged('CP-2', 'MeterValues', now)).toBe(false);
    expect(verbose.periodicLogged('CP-unknown', 'Heartbeat', now)).toBe(false);
    // The window closes by itself.
    expect(verbose.periodicLogged('CP-1', 'Heartbeat', Date.parse('2026-12-05T13:00:01Z'))).toBe(false);

    update(cache, 'CP-2', charger('CP-2', '2026-12-06T12:00:00Z'));
    expect(verbose.periodicLogged('CP-2', 'Heartbeat', now)).toBe(true);
    update(cache, 'CP-1', charger('CP-1'));
    expect(verbose.periodicLogged('CP-1', 'MeterValues', now)).toBe(false);
    update(cache, 'CP-2', undefined);
    expect(verbose.periodicLogged('CP-2', 'Heartbeat', now)).toBe(false);

    verbose.stop();
    update(cache, 'CP-3', charger('CP-3', '2026-12-06T12:00:00Z'));
    expect(verbose.periodicLogged('CP-3', 'Heartbeat', now)).toBe(false);
    expect(cache.listenerCount('charger')).toBe(0);
  });
});
