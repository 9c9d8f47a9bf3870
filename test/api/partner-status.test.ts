import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJson } from '../../core/nats.js';
import type { PartnerConnectionState } from '../../core/partner-connection.js';
import { subjects } from '../../core/subjects.js';
import type { PlatformNode } from '../../main.js';
import { startTestNats } from '../support/nats.js';
import { aCharger, anInstallation, startTestNode, waitFor } from '../support/platform.js';
import { TestPartner } from '../partner/partner-server.js';
import { connectCharger, PARTNER_PASSWORD, PARTNER_TEST_ENV, type Charger } from '../partner/support.js';

/**
 * Issue 13: every charger's partner connection state in GET /installations/{id}/status, asked of the
 * node that runs the partner session. Two nodes on one real nats-server: the chargers connect to
 * node B, the API is node A's, and the partner is ocpp-rpc's strict server.
 */

const ADMIN = 'test-admin-token-0123456789';
let nats: Awaited<ReturnType<typeof startTestNats>>;
let apiNode: PlatformNode;
let chargerNode: PlatformNode;
let partner: TestPartner;
const chargers: Charger[] = [];
/** Everything published on partner.changed.inst-ps.* */
const published: (PartnerConnectionState & { chargerId: string })[] = [];

type ChargerView = { id: string; connected: boolean; partner: PartnerConnectionState };

async function statusOf(installationId: string, chargerId: string): Promise<ChargerView> {
  const res = await fetch(`http://127.0.0.1:${apiNode.apiPort}/api/v1/installations/${installationId}/status`, { headers: { authorization: `Bearer ${ADMIN}` } });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { chargers: ChargerView[] };
  const c = body.chargers.find((x) => x.id === chargerId);
  if (!c) throw new Error(`${chargerId} missing from the status`);
  return c;
}

/** Polls the status until the charger's partner state is `state`. */
const partnerState = (chargerId: string, state: string, timeoutMs = 8_000, installationId = 'inst-ps') =>
  waitFor(async () => {
    const c = await statusOf(installationId, chargerId);
    return c.partner.state === state ? c.partner : undefined;
  }, timeoutMs, `${chargerId} partner ${state}`);

async function charger(installationId: string, id: string, over: Record<string, unknown> = {}): Promise<Charger> {
  await apiNode.stores.chargers.put(installationId, id, aCharger({ serial: `SER-${id}`, ...over }));
  await waitFor(() => chargerNode.cache.chargers.get(id)?.updatedAt, 5_000, `${id} in node B's cache`);
  const c = await connectCharger(chargerNode, id);
  chargers.push(c);
  return c;
}

beforeAll(async () => {
  nats = await startTestNats();
  partner = await TestPartner.start();
  apiNode = await startTestNode(nats.url, PARTNER_TEST_ENV);
  chargerNode = await startTestNode(nats.url, PARTNER_TEST_ENV);
  await apiNode.stores.installations.create(
    anInstallation({ id: 'inst-ps', ocpp: { partnerEnabled: true, url: partner.url('/ocpp/{deviceId}'), initialPassword: PARTNER_PASSWORD } }),
  );
  await apiNode.stores.installations.create(anInstallation({ id: 'inst-off' }));
  await waitFor(() => chargerNode.cache.installations.get('inst-ps') && chargerNode.cache.installations.get('inst-off'), 5_000, 'installations on node B');
  apiNode.bus.nc.subscribe(subjects.partnerConnectionChanges('inst-ps'), {
    callback: (err, msg) => {
      if (!err) published.push(decodeJson(msg.data));
    },
  });
});

afterAll(async () => {
  await Promise.all(chargers.map((c) => c.client.close({ force: true }).catch(() => undefined)));
  // Without installations no balancer moves to the other node while the first one stops (a balancer
  // starting on a node that is itself stopping reads KV on a draining connection).
  for (const id of ['inst-ps', 'inst-off']) await apiNode?.stores.installations.delete(id);
  await waitFor(() => [apiNode, chargerNode].every((n) => !n || (!n.balancers.balancer('inst-ps') && !n.balancers.balancer('inst-off'))), 10_000, 'balancers released');
  await chargerNode?.stop();
  await apiNode?.stop();
  await partner?.down();
  await nats?.cleanup();
});

describe('partner connection state in the installation status', () => {
  it('is disabled for an installation without a partner (nothing is asked)', async () => {
    await charger('inst-off', 'PS-OFF');
    const c = await statusOf('inst-off', 'PS-OFF');
    expect(c.connected).toBe(true);
    expect(c.partner).toEqual({ state: 'disabled', since: null, reason: null, retryAt: null, attempt: null, nodeId: null });
  });

  it("is connected since the partner accepted the boot, named with the node that runs the session (not the API's)", async () => {
    const before = Date.now();
    await charger('inst-ps', 'PS-1');
    const p = await partnerState('PS-1', 'connected');
    expect(p.nodeId).toBe(chargerNode.config.nodeId);
    expect(p.nodeId).not.toBe(apiNode.config.nodeId);
    expect(Date.parse(p.since!)).toBeGreaterThanOrEqual(before);
    // Connected at the partner as the BootNotification was accepted, not before.
    const boot = partner.callsOf('SER-PS-1', 'BootNotification')[0]!;
    expect(Date.parse(p.since!)).toBeGreaterThanOrEqual(boot.at - 5);
    expect(p).toMatchObject({ reason: null, retryAt: null, attempt: 0 });
    // Node B published its changes on NATS: connecting first, then connected.
    const mine = published.filter((m) => m.chargerId === 'PS-1').map((m) => m.state);
    expect(mine[0]).toBe('connecting');
    expect(mine).toContain('connected');
    expect(published.find((m) => m.chargerId === 'PS-1' && m.state === 'connected')?.nodeId).toBe(chargerNode.config.nodeId);
  });

  it('backs off with the reason and the next try while the partner is down, and is connected again when it is back', async () => {
    const first = await partnerState('PS-1', 'connected');
    await partner.down();
    const down = await partnerState('PS-1', 'backoff');
    expect(down.reason).toBeTruthy();
    expect(down.attempt).toBeGreaterThanOrEqual(1);
    // PARTNER_RECONNECT_MAX_MS is 300: the next try is scheduled within it.
    const wait = Date.parse(down.retryAt!) - Date.parse(down.since!);
    expect(wait).toBeGreaterThanOrEqual(0);
    expect(wait).toBeLessThanOrEqual(300);
    await partner.up();
    const again = await partnerState('PS-1', 'connected');
    expect(Date.parse(again.since!)).toBeGreaterThan(Date.parse(first.since!));
  });

  it('shows a refused password as backoff with the HTTP status', async () => {
    partner.behaviour.passwords.set('SER-PS-PW', 'another-password');
    await charger('inst-ps', 'PS-PW');
    const p = await partnerState('PS-PW', 'backoff');
    expect(p.reason).toContain('HTTP 401');
    expect(p.nodeId).toBe(chargerNode.config.nodeId);
  });

  it("is rejected with the partner's retry interval when the partner rejects the boot", async () => {
    partner.behaviour.bootStatus = 'Rejected';
    partner.behaviour.heartbeatS = 45;
    try {
      await charger('inst-ps', 'PS-REJ');
      const p = await partnerState('PS-REJ', 'rejected');
      expect(p.reason).toBe('BootNotification answered Rejected');
      expect(Date.parse(p.retryAt!) - Date.parse(p.since!)).toBe(45_000);
    } finally {
      partner.behaviour.bootStatus = 'Accepted';
      partner.behaviour.heartbeatS = 60;
    }
  });

  it('has given up on a partner URL that PARTNER_URL_ALLOW refuses, naming why', async () => {
    await charger('inst-ps', 'PS-DENY', { ocpp: { url: 'ws://partner.elsewhere.example/ocpp/PS-DENY' } });
    const p = await partnerState('PS-DENY', 'given-up');
    expect(p.reason).toContain('PARTNER_URL_ALLOW');
    expect(p.nodeId).toBe(chargerNode.config.nodeId);
    expect(partner.handshakes.some((h) => h.identity === 'SER-PS-DENY')).toBe(false);
  });

  it('is offline once the charger left and its session ended; a charger that never connected too', async () => {
    const c = chargers.find((x) => x.client.identity === 'PS-1')!;
    await c.client.close({ force: true });
    const p = await partnerState('PS-1', 'offline');
    expect(p).toMatchObject({ reason: 'charger not connected to the platform: no partner session', nodeId: null, since: null });
    await waitFor(() => !partner.clients.has('SER-PS-1'), 5_000, 'partner connection closed');
    await apiNode.stores.chargers.put('inst-ps', 'PS-NEVER', aCharger({ serial: 'SER-NEVER' }));
    expect((await statusOf('inst-ps', 'PS-NEVER')).partner.state).toBe('offline');
  });

  it('follows the installation: turning the partner off shows disabled and closes the partner connection', async () => {
    await charger('inst-ps', 'PS-2');
    await partnerState('PS-2', 'connected');
    const res = await fetch(`http://127.0.0.1:${apiNode.apiPort}/api/v1/installations/inst-ps`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ocpp: { partnerEnabled: false } }),
    });
    expect(res.status).toBe(200);
    await partnerState('PS-2', 'disabled');
    await waitFor(() => !partner.clients.has('SER-PS-2'), 5_000, 'partner connection of PS-2 closed');
  });
});
