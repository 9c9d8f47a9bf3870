import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlatformNode } from '../../main.js';
import { TestPartner } from '../partner/partner-server.js';
import { PARTNER_PASSWORD, PARTNER_TEST_ENV } from '../partner/support.js';
import { startTestNats } from '../support/nats.js';
import { aCharger, anInstallation, startTestNode, waitFor } from '../support/platform.js';
import { TestCharger, type ProfileCall } from '../support/sim-charger.js';
import { launchBrowser, screenshots, type TestBrowser, apiClient, logIn } from './browser.js';

/**
 * Issue 13 in headless Chromium: why each charger is limited and counted (real balancer reasons, a
 * charger that drops off counted at its last limit), the failsafe banner when the energy manager goes
 * silent, and each charger's partner connection (ocpp-rpc's strict partner server going down and up).
 */

const ADMIN = 'test-admin-token-0123456789';
const INST = 'ui-why';
const fastBalancer = { settleMs: 300, minChangeIntervalMs: 0, deadbandA: 0.5, minRunMs: 0, minPauseMs: 0, rotationIntervalMs: 3_600_000 };
const FAILSAFE = { L1: 20, L2: 20, L3: 20 };

let nats: Awaited<ReturnType<typeof startTestNats>>;
let node: PlatformNode;
let partner: TestPartner;
let browser: TestBrowser;
let page: Page;
let base = '';
let installerToken = '';
const profiles: ProfileCall[] = [];
let one: TestCharger;
let two: TestCharger;
const shots: string[] = [];

type ChargerStatus = { id: string; currentLimit: number | null; limitReason: string | null; countedA: number | null; countedBecause: string | null; partner: { state: string } };

const apiCall = apiClient(() => base, ADMIN);

const apiCharger = async (id: string): Promise<ChargerStatus> =>
  ((await apiCall('GET', `/installations/${INST}/status`, undefined, installerToken)).json.chargers as ChargerStatus[]).find((c) => c.id === id)!;

const card = (id: string) => page.locator(`[data-charger=${id}]`);
const text = async (selector: string, id: string): Promise<string> => (await card(id).locator(selector).textContent()) ?? '';

beforeAll(async () => {
  nats = await startTestNats();
  partner = await TestPartner.start();
  node = await startTestNode(nats.url, { ...PARTNER_TEST_ENV, BALANCER_RETRY_MS: '500', BALANCER_PROFILE_TIMEOUT_MS: '1000' });
  base = `http://127.0.0.1:${node.apiPort}`;
  await node.stores.installations.create(
    anInstallation({
      id: INST,
      name: 'Garage Why',
      fuse: { L1: 32, L2: 32, L3: 32 },
      balancer: { ...fastBalancer, failsafeCurrent: FAILSAFE },
      ocpp: { partnerEnabled: true, url: partner.url('/ocpp/{deviceId}'), initialPassword: PARTNER_PASSWORD },
    }),
  );
  await node.stores.chargers.put(INST, 'WHY-1', aCharger({ serial: 'SER-WHY-1', maxCurrent: 32, minCurrent: 6 }));
  await node.stores.chargers.put(INST, 'WHY-2', aCharger({ serial: 'SER-WHY-2', maxCurrent: 16, minCurrent: 6 }));
  installerToken = String((await apiCall('POST', '/tokens', { installations: [INST] })).json.token);
  await waitFor(() => node.balancers.balancer(INST), 5_000, 'balancer');
  one = new TestCharger('WHY-1', () => node, profiles);
  two = new TestCharger('WHY-2', () => node, profiles);
  await Promise.all([one.connect(), two.connect()]);
  browser = await launchBrowser();
  page = await browser.newPage();
});

afterAll(async () => {
  await browser?.close();
  await Promise.all([one, two].map((c) => c?.close().catch(() => undefined)));
  await node?.stop();
  await partner?.down();
  await nats?.cleanup();
});

describe('why each charger is limited and counted, and its partner connection', () => {
  it('shows each charger connected to the partner, with the limit and count reasons the balancer gives', async () => {
    await logIn(page, base, installerToken);
    await page.goto(`${base}/ui/#/i/${INST}`);
    await page.locator('main[data-live=live]').waitFor();
    for (const id of ['WHY-1', 'WHY-2']) {
      await expect.poll(() => card(id).getAttribute('data-partner-state'), { timeout: 8_000 }).toBe('connected');
      expect(await text('dd.partner .badge', id)).toBe('connected');
      expect(await text('dd.partner', id)).toMatch(/^connectedsince [^·]+ \(\d+ s\) · on test-/);
    }
    await expect.poll(() => page.locator('.partner-state').textContent()).toBe('2 of 2 chargers connected to the partner');

    await Promise.all([one.plugIn(), two.plugIn()]);
    await Promise.all([one.waitForLimit((l) => l > 0), two.waitForLimit((l) => l > 0)]);
    await Promise.all([one.meter(10), two.meter(8)]);
    // Once the balancer settled, the card says what the API says, and an online charger is counted at its limit.
    for (const [id, c] of [['WHY-1', one], ['WHY-2', two]] as const) {
      await expect.poll(() => card(id).getAttribute('data-counted-because'), { timeout: 8_000 }).toBe('limit');
      const s = await waitFor(async () => {
        const x = await apiCharger(id);
        return x.currentLimit === c.limit && x.countedA === c.limit ? x : undefined;
      }, 8_000, `${id} settled`);
      expect(['charging', 'capped', 'reclaimed']).toContain(s.limitReason);
      await expect.poll(() => text('dd.limit', id)).toBe(`${s.currentLimit} A — ${s.limitReason}`);
      await expect.poll(() => text('dd.counted', id)).toBe(`${s.countedA} A — limitits accepted limit`);
    }
    expect(await page.locator('main').getAttribute('data-failsafe')).toBe('false');
    expect(await page.locator('.banner.failsafe').isVisible()).toBe(false);
    shots.push(...(await screenshots(page, 'why-installation')));
  });

  it('counts a charger that drops off at its last accepted limit, and shows its partner session gone', async () => {
    const last = two.limit!;
    expect(last).toBeGreaterThan(0);
    await two.close();
    await expect.poll(() => text('header .badge', 'WHY-2'), { timeout: 5_000 }).toBe('offline');
    await expect.poll(() => card('WHY-2').getAttribute('data-counted-because'), { timeout: 5_000 }).toBe('offline: last limit');
    expect(await text('dd.counted', 'WHY-2')).toBe(`${last} A — offline: last limitoffline: it keeps charging at its last accepted limit (OCPP profiles persist)`);
    // The reason comes from the balancer's next allocation, which may follow the count by a moment.
    await expect.poll(() => text('dd.limit', 'WHY-2'), { timeout: 5_000 }).toMatch(/ — offline$/);
    expect((await apiCharger('WHY-2')).countedBecause).toBe('offline: last limit');
    // The partner session lingers briefly (PARTNER_LINGER_MS), then ends: no node has one.
    await expect.poll(() => card('WHY-2').getAttribute('data-partner-state'), { timeout: 5_000 }).toBe('offline');
    expect(await text('dd.partner', 'WHY-2')).toContain('charger not connected to the platform');
    await waitFor(() => !partner.clients.has('SER-WHY-2'), 5_000, 'partner connection of WHY-2 closed');
    await expect.poll(() => page.locator('.partner-state').textContent()).toBe('1 of 2 chargers connected to the partner (see each charger for why)');
  });

  it('shows the failsafe banner and the failsafe limit on the bars once the energy manager goes silent', async () => {
    const put = await apiCall('PUT', `/installations/${INST}/available-current`, { L1: 30, L2: 30, L3: 30, ttlSeconds: 1 }, installerToken);
    expect(put.status).toBe(200);
    const banner = page.locator('.banner.failsafe');
    await banner.waitFor({ state: 'visible', timeout: 8_000 });
    expect(await banner.getAttribute('role')).toBe('alert');
    expect(await banner.textContent()).toMatch(
      /^Failsafe in force since [^:]+:[^:]+:[^:]+: the energy manager's dynamic limit expired, so the chargers share L1 20 A · L2 20 A · L3 20 A \(the installation's failsafe current, never more than the fuse\)\.$/,
    );
    expect(await page.locator('main').getAttribute('data-failsafe')).toBe('true');
    await expect.poll(() => page.locator('[data-phase=L1]').getAttribute('data-limit')).toBe('20');
    expect(await page.locator('[data-phase=L1] .phase-nums').textContent()).toContain('limit 20 A (failsafe)');
    // What the API says is in force.
    const status = (await apiCall('GET', `/installations/${INST}/status`, undefined, installerToken)).json;
    expect(status.failsafe).toMatchObject({ inForce: true, source: 'configured', current: FAILSAFE });
    // WHY-2 is still counted at its last limit: the allocation stays within the failsafe.
    await expect.poll(async () => (await apiCharger('WHY-1')).currentLimit! + (await apiCharger('WHY-2')).countedA!, { timeout: 8_000 }).toBeLessThanOrEqual(20);
    expect(await card('WHY-2').getAttribute('data-counted-because')).toBe('offline: last limit');
    // 20 A less WHY-2's last limit leaves less than WHY-1's 6 A minimum: paused, and the card says so.
    if (20 - (await apiCharger('WHY-2')).countedA! < 6) await expect.poll(() => text('dd.limit', 'WHY-1'), { timeout: 8_000 }).toBe('0 A — paused');
    shots.push(...(await screenshots(page, 'why-offline-failsafe')));
  });

  it("shows the partner connection backing off with its reason while the partner is down, and connected again after", async () => {
    await partner.down();
    // The session alternates between backing off and (briefly) connecting: one read of the whole row.
    await expect
      .poll(() => text('dd.partner', 'WHY-1'), { timeout: 8_000 })
      .toMatch(/^backing off(partner connection failed|cannot open|closed)[^·]* · next try [^·]+ · attempt \d+ · on test-/);
    shots.push(...(await screenshots(page, 'why-partner-backoff')));
    await partner.up();
    await expect.poll(() => card('WHY-1').getAttribute('data-partner-state'), { timeout: 8_000 }).toBe('connected');
  });

  it("shows the partner connection and the reasons on the charger's own page", async () => {
    await card('WHY-1').locator('h3 a').click();
    await page.locator('h1', { hasText: 'WHY-1' }).waitFor();
    await page.locator('main[data-live=live]').waitFor();
    await expect.poll(() => card('WHY-1').getAttribute('data-partner-state'), { timeout: 5_000 }).toBe('connected');
    expect(await text('dd.partner', 'WHY-1')).toMatch(/^connectedsince /);
    expect(await card('WHY-1').getAttribute('data-counted-because')).toBe('limit');
    shots.push(...(await screenshots(page, 'why-charger')));
  });

  it('had no script errors', () => {
    expect(browser.errors).toEqual([]);
    expect(shots.length).toBe(8);
  });
});
