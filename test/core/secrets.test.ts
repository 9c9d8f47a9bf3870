import { randomBytes } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { CredentialStore } from '../../core/credential-store.js';
import { connectBus, type Bus } from '../../core/nats.js';
import { SecretBox } from '../../core/secret-box.js';
import { buckets } from '../../core/subjects.js';
import { startNode } from '../../main.js';
import { startTestNats } from '../support/nats.js';
import { aCharger, anInstallation, handshakeStatus, INITIAL_PASSWORD, newStrictClient, TEST_SECRETS_KEY, waitFor, type IncomingCall } from '../support/platform.js';

/** Issue 16, secrets: sealed partner passwords, one revision, purge on delete, no lockout by a lost .conf. */

let nats: Awaited<ReturnType<typeof startTestNats>>;
let bus: Bus;
let kv: KV;

beforeAll(async () => {
  nats = await startTestNats();
  bus = await connectBus({ url: nats.url });
  kv = bus.kv[buckets.credentials];
});
afterAll(async () => {
  await bus?.close();
  await nats?.cleanup();
});

async function revisions(key: string): Promise<{ operation: string; value: string }[]> {
  const out: { operation: string; value: string }[] = [];
  const it = await kv.history({ key });
  for await (const e of it) out.push({ operation: e.operation, value: new TextDecoder().decode(e.value) });
  return out;
}

describe('partner passwords at rest', () => {
  it('are sealed with AES-GCM: the bucket never holds them in clear, another key cannot open them', async () => {
    const store = new CredentialStore(kv, new SecretBox(randomBytes(32)));
    await store.updateChargerNorth('CP-S1', { partnerSet: 'partner-secret-1', configured: 'operator-secret-1' });
    await store.setInstallationNorthPassword('inst-s1', 'initial-secret-1');
    const raw = JSON.stringify([await revisions('charger-north.CP-S1'), await revisions('inst-north.inst-s1')]);
    expect(raw).not.toContain('partner-secret-1');
    expect(raw).not.toContain('operator-secret-1');
    expect(raw).not.toContain('initial-secret-1');
    expect(await store.chargerNorth('CP-S1')).toEqual({ partnerSet: 'partner-secret-1', configured: 'operator-secret-1' });
    expect(await store.installationNorthPassword('inst-s1')).toBe('initial-secret-1');
    const other = new CredentialStore(kv, new SecretBox(randomBytes(32)));
    expect(await other.chargerNorth('CP-S1')).toEqual({});
    expect(await other.installationNorthPassword('inst-s1')).toBeUndefined();
  });

  it('a value moved to another charger does not open', async () => {
    const store = new CredentialStore(kv, new SecretBox(randomBytes(32)));
    await store.updateChargerNorth('CP-S2', { partnerSet: 'moved-secret' });
    const sealed = (await kv.get('charger-north.CP-S2'))!.value;
    await kv.put('charger-north.CP-S3', sealed);
    expect((await store.chargerNorth('CP-S3')).partnerSet).toBeUndefined();
  });
});

describe('the credentials bucket', () => {
  it('keeps one revision per key and purges on delete', async () => {
    const store = new CredentialStore(kv, new SecretBox(randomBytes(32)));
    await store.updateChargerNorth('CP-H', { partnerSet: 'first-secret' });
    await store.updateChargerNorth('CP-H', { partnerSet: 'second-secret' });
    expect((await revisions('charger-north.CP-H')).length).toBe(1);
    await store.deleteCharger('CP-H');
    expect((await revisions('charger-north.CP-H')).filter((r) => r.operation === 'PUT')).toEqual([]);
  });
});

describe('south password rotation', () => {
  it('an unconfirmed earlier rotation stays valid until a newer one is confirmed', async () => {
    const store = new CredentialStore(kv);
    await store.beginSouthRotation('CP-R', 'key-one-aaaaaaaaaaaa');
    await store.beginSouthRotation('CP-R', 'key-two-bbbbbbbbbbbb');
    expect(await store.verifySouth('CP-R', 'none', 'key-one-aaaaaaaaaaaa')).toBe('pending');
    // key-one is confirmed: key-two (never confirmed) goes.
    expect(await store.verifySouth('CP-R', 'none', 'key-two-bbbbbbbbbbbb')).toBe('denied');
    expect(await store.verifySouth('CP-R', 'none', 'key-one-aaaaaaaaaaaa')).toBe('current');
  });

  it('a rotation whose .conf is lost does not lock the charger out (real node, real charger socket)', { timeout: 30_000 }, async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const env = { ...process.env, NATS_URL: nats.url, API_PORT: '0', OCPP_PORT: '0', HOST: '127.0.0.1', NODE_ID: 'rot-node', ADMIN_TOKEN: 'test-admin-token-0123456789', SECRETS_KEY: TEST_SECRETS_KEY, OCPP_CALL_TIMEOUT_MS: '1500' };
    const node = await startNode(loadConfig(env), { logger });
    try {
      await node.stores.installations.create(anInstallation({ id: 'inst-rot' }));
      await node.stores.chargers.put('inst-rot', 'CP-LOST', aCharger());
      await waitFor(() => node.cache.chargers.has('CP-LOST') || undefined);
      // The charger stores the new key, but its answer never arrives.
      let key: string | undefined;
      const client = newStrictClient(node, 'CP-LOST', INITIAL_PASSWORD);
      client.handle(async ({ method, params = {} }: IncomingCall) => {
        if (method === 'ChangeConfiguration' && params.key === 'AuthorizationKey') {
          key = Buffer.from(String(params.value), 'hex').toString('utf8');
          return new Promise(() => undefined);
        }
        return { status: 'Accepted' };
      });
      await client.connect();
      await waitFor(() => key, 10_000, 'the new AuthorizationKey at the charger');
      await waitFor(() => lines.some((l) => l.includes('charger password rotation failed')) || undefined, 10_000, 'the rotation to time out');
      await client.close({ force: true });
      expect(key).toBeDefined();
      expect(await handshakeStatus(node.ocppPort, '/ocpp/CP-LOST', { protocol: 'ocpp1.6', auth: `CP-LOST:${key}` })).toBe(101);
      // Presenting it confirmed it: the initial password no longer works for this charger.
      await waitFor(async () => (await node.stores.credentials.chargerSouth('CP-LOST'))?.current !== undefined || undefined);
      expect(await handshakeStatus(node.ocppPort, '/ocpp/CP-LOST', { protocol: 'ocpp1.6', auth: `CP-LOST:${INITIAL_PASSWORD}` })).toBe(401);
    } finally {
      await node.stop();
    }
  });
});
