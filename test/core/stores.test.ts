import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, type Bus } from '../../core/nats.js';
import { buckets } from '../../core/subjects.js';
import { CredentialStore } from '../../core/credential-store.js';
import { InstallationStore } from '../../core/installation-store.js';
import { ChargerStore } from '../../core/charger-store.js';
import { TransactionStore } from '../../core/transaction-store.js';
import { ConfigCache } from '../../core/config-cache.js';
import { isPlatformError } from '../../core/errors.js';
import { startTestNats } from '../support/nats.js';

let nats: Awaited<ReturnType<typeof startTestNats>>;
let bus: Bus;
let credentials: CredentialStore;
let installations: InstallationStore;
let chargers: ChargerStore;

beforeAll(async () => {
  nats = await startTestNats();
  bus = await connectBus({ url: nats.url });
  credentials = new CredentialStore(bus.kv[buckets.credentials]);
  installations = new InstallationStore(bus.kv[buckets.installations], credentials);
  chargers = new ChargerStore(bus.kv[buckets.chargers], installations, credentials);
});
afterAll(async () => {
  await bus?.close();
  await nats?.cleanup();
});

describe('installation store', () => {
  it('creates with defaults and keeps secrets out of the record', async () => {
    const inst = await installations.create({ id: 'garage-1', name: 'Garage', fuse: { L1: 63, L2: 63, L3: 63 }, chargerPassword: 'initial-secret', ocpp: { initialPassword: 'north-pw' } });
    expect(inst.balancer.deadbandA).toBe(1);
    expect(inst.authorization).toEqual({ required: false, idTags: [] });
    expect(JSON.stringify(inst)).not.toContain('initial-secret');
    expect(JSON.stringify(inst)).not.toContain('north-pw');
    expect(await credentials.verifySouth('c1', 'garage-1', 'initial-secret')).toBe('initial');
    expect(await credentials.verifySouth('c1', 'garage-1', 'wrong-secret')).toBe('denied');
    expect(await credentials.installationNorthPassword('garage-1')).toBe('north-pw');
  });

  it('rejects bad input naming the field and changes nothing', async () => {
    const cases: [unknown, string][] = [
      [{ name: 'x', fuse: { L1: -1, L2: 10, L3: 10 } }, 'fuse.L1'],
      [{ name: 'x', fuse: { L1: 10, L2: 100000, L3: 10 } }, 'fuse.L2'],
      [{ name: 'x', fuse: { L1: 10, L2: 10 } }, 'fuse.L3'],
      [{ name: 'x', fuse: { L1: '10', L2: 10, L3: 10 } }, 'fuse.L1'],
      [{ name: 'x', fuse: { L1: 10, L2: 10, L3: 10 }, color: 'red' }, 'color'],
      [{ name: 'x', fuse: { L1: 10, L2: 10, L3: 10 }, ocpp: { url: 'http://x/{deviceId}' } }, 'ocpp.url'],
      [{ name: 'x', fuse: { L1: 10, L2: 10, L3: 10 }, ocpp: { defaultIdTag: 'x'.repeat(21) } }, 'ocpp.defaultIdTag'],
    ];
    for (const [input, field] of cases) {
      const err = await installations.create(input).catch((e: unknown) => e);
      expect(isPlatformError(err, 'VALIDATION'), JSON.stringify(input)).toBe(true);
      expect((err as { details: { field: string } }).details.field).toBe(field);
    }
    expect((await installations.list({ limit: 100 })).items.map((i) => i.id)).toEqual(['garage-1']);
  });

  it('patches fuse per phase with compare-and-set and refuses duplicates', async () => {
    const patched = await installations.patch('garage-1', { fuse: { L2: 40 } });
    expect(patched.fuse).toEqual({ L1: 63, L2: 40, L3: 63 });
    await expect(installations.patch('garage-1', { fuse: { L2: 0 } })).rejects.toThrow(/fuse.L2/);
    expect((await installations.get('garage-1'))?.fuse.L2).toBe(40);
    await expect(installations.create({ id: 'garage-1', name: 'dup', fuse: { L1: 1, L2: 1, L3: 1 } })).rejects.toThrow(/already exists/);
    await Promise.all([1, 2, 3, 4, 5].map((n) => installations.patch('garage-1', { name: `n${n}` })));
    expect((await installations.get('garage-1'))?.name).toMatch(/^n[1-5]$/);
  });
});

describe('charger store and config cache', () => {
  it('puts chargers with defaults, watches them into the cache', async () => {
    const cache = await ConfigCache.start(bus);
    expect(cache.installations.has('garage-1')).toBe(true);
    const seen = new Promise<string>((r) => cache.once('charger', (id) => r(id)));
    const { charger, created } = await chargers.put('garage-1', 'CP-1', { phases: 3, maxCurrent: 32, ocpp: { password: 'north-own' } });
    expect(created).toBe(true);
    expect(charger).toMatchObject({ minCurrent: 6, phaseRotation: 'L1L2L3', profilePurpose: 'TxDefaultProfile', ocppValidation: 'strict', serial: 'CP-1' });
    expect(JSON.stringify(charger)).not.toContain('north-own');
    expect(await seen).toBe('CP-1');
    expect(cache.chargersOf('garage-1').map((c) => c.id)).toEqual(['CP-1']);
    await expect(chargers.put('garage-1', 'CP-2', { phases: 2, maxCurrent: 32 })).rejects.toThrow(/phases/);
    await expect(chargers.put('nope', 'CP-2', { phases: 1, maxCurrent: 32 })).rejects.toThrow(/not found/);
    await expect(chargers.put('garage-1', 'CP.2', { phases: 1, maxCurrent: 32 })).rejects.toThrow(/chargerId/);
    expect(await chargers.get('CP-2')).toBeUndefined();
    cache.stop();
  });
});

describe('transaction store', () => {
  it('allocates ids from the stream, dedupes retried starts, lists per charger', async () => {
    const tx = new TransactionStore(bus.js, bus.jsm);
    const start = { chargerId: 'CP-1', installationId: 'garage-1', connectorId: 1, idTag: 'TAG', meterStartWh: 100, timestamp: '2026-01-01T00:00:00Z', nodeId: 'n1' };
    const a = await tx.start(start);
    const again = await tx.start(start);
    const b = await tx.start({ ...start, connectorId: 2 });
    expect(again).toEqual({ transactionId: a.transactionId, duplicate: true });
    expect(b.transactionId).not.toBe(a.transactionId);
    await tx.stop({ chargerId: 'CP-1', installationId: 'garage-1', transactionId: a.transactionId, known: true, meterStopWh: 1100, timestamp: '2026-01-01T01:00:00Z', nodeId: 'n1' });
    expect((await tx.getStart(a.transactionId, 'CP-1'))?.connectorId).toBe(1);
    expect(await tx.getStart(a.transactionId, 'other')).toBeUndefined();
    const list = await tx.list({ chargerId: 'CP-1' });
    expect(list.find((t) => t.transactionId === a.transactionId)?.energyWh).toBe(1000);
    expect(list).toHaveLength(2);
    expect(await tx.list({ chargerId: 'none' })).toEqual([]);
  });
});
