import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlatformNode } from '../../main.js';
import { startTestNats } from '../support/nats.js';
import { aCharger, anInstallation, startTestNode, waitFor } from '../support/platform.js';
import { TestCharger, type ProfileCall } from '../support/sim-charger.js';
import { launchBrowser, screenshots, type TestBrowser, apiClient, logIn } from './browser.js';

/**
 * Issue 13, per circuit, in headless Chromium: a board below the fuse (created through the API) with
 * a charger on it, shown as a tree under main with its own phase bars; its allocation following the
 * charger; its grid meter's failsafe banner, then a reading put through the API.
 */

const ADMIN = 'test-admin-token-0123456789';
const INST = 'ui-circ';
const fastBalancer = { settleMs: 300, minChangeIntervalMs: 0, deadbandA: 0.5, minRunMs: 0, minPauseMs: 0, rotationIntervalMs: 3_600_000 };
const BOARD = { name: 'Board A', limits: { L1: 20, L2: 20, L3: 20 } };

type Phases = { L1: number | null; L2: number | null; L3: number | null };
type CircuitStatus = { id: string; limits: Phases | null; allocated: Phases | null; meter: { reading: Phases | null; otherLoad: Phases | null; failsafe?: unknown } | null };

let nats: Awaited<ReturnType<typeof startTestNats>>;
let node: PlatformNode;
let browser: TestBrowser;
let page: Page;
let base = '';
let installerToken = '';
const profiles: ProfileCall[] = [];
let onBoard: TestCharger;
let onMain: TestCharger;
const shots: string[] = [];

const apiCall = apiClient(() => base, ADMIN);

const apiCircuit = async (id: string): Promise<CircuitStatus> =>
  ((await apiCall('GET', `/installations/${INST}/status`, undefined, installerToken)).json.circuits as CircuitStatus[]).find((c) => c.id === id)!;

/** A circuit's own part (its sub-circuits excluded: they are nested inside its list item). */
const own = (circuit: string) => page.locator(`li[data-circuit=${circuit}] > .circuit-body`);
const bar = (circuit: string, phase: string) => own(circuit).locator(`[data-phase=${phase}]`);
const perPhase = (v: Phases) => (['L1', 'L2', 'L3'] as const).map((p) => `${p} ${Math.round(v[p]! * 10) / 10} A`).join(' · ');

beforeAll(async () => {
  nats = await startTestNats();
  node = await startTestNode(nats.url, { BALANCER_RETRY_MS: '500', BALANCER_PROFILE_TIMEOUT_MS: '1000' });
  base = `http://127.0.0.1:${node.apiPort}`;
  await node.stores.installations.create(anInstallation({ id: INST, name: 'Garage Circuits', fuse: { L1: 40, L2: 40, L3: 40 }, balancer: fastBalancer }));
  await node.stores.chargers.put(INST, 'MAIN-1', aCharger({ maxCurrent: 16, minCurrent: 6 }));
  expect((await apiCall('PUT', `/installations/${INST}/circuits/board`, BOARD)).status).toBe(201);
  // One level deeper, wired to L1 only: a bar for L1 and none for the phases it lacks.
  expect((await apiCall('PUT', `/installations/${INST}/circuits/socket`, { name: 'Garage socket', parentId: 'board', limits: { L1: 10 } })).status).toBe(201);
  expect((await apiCall('PUT', `/installations/${INST}/chargers/BOARD-1`, { phases: 3, maxCurrent: 32, minCurrent: 6, circuitId: 'board' })).status).toBe(201);
  installerToken = String((await apiCall('POST', '/tokens', { installations: [INST] })).json.token);
  await waitFor(() => node.balancers.balancer(INST), 5_000, 'balancer');
  await waitFor(() => ['MAIN-1', 'BOARD-1'].every((id) => node.cache.chargers.has(id)) || undefined, 5_000, 'chargers cached');
  onBoard = new TestCharger('BOARD-1', () => node, profiles);
  onMain = new TestCharger('MAIN-1', () => node, profiles);
  await Promise.all([onBoard.connect(), onMain.connect()]);
  await Promise.all([onBoard.waitForLimit((l) => l === 0), onMain.waitForLimit((l) => l === 0)]);
  browser = await launchBrowser();
  page = await browser.newPage();
});

afterAll(async () => {
  await browser?.close();
  await Promise.all([onBoard, onMain].map((c) => c?.close().catch(() => undefined)));
  await node?.stop();
  await nats?.cleanup();
});

describe('circuits on the installation page', () => {
  it('shows the board indented under main, with its bars, and each charger card under its circuit', async () => {
    await logIn(page, base, installerToken);
    await page.goto(`${base}/ui/#/i/${INST}`);
    await page.locator('main[data-live=live]').waitFor();
    await page.locator('li[data-circuit=main] > ul.circuits > li[data-circuit=board]').waitFor();
    await page.locator('li[data-circuit=board] > ul.circuits > li[data-circuit=socket]').waitFor();
    expect(await own('socket').locator('[data-phase]').evaluateAll((els) => els.map((e) => e.getAttribute('data-phase')))).toEqual(['L1']);
    expect(await own('socket').locator('.circuit-fuse').textContent()).toBe('fuse L1 10 A');
    // Each level is indented further than its parent.
    const left = async (c: string) => (await own(c).boundingBox())!.x;
    expect(await left('board')).toBeGreaterThan(await left('main'));
    expect(await left('socket')).toBeGreaterThan(await left('board'));
    expect(await page.locator('#circuits-h').isVisible()).toBe(true);
    expect(await page.locator('#chargers-h').isVisible()).toBe(false);
    expect(await page.locator('li[data-circuit=board] > .circuit-body > h3').textContent()).toBe('Board A board');
    expect(await own('board').locator('.circuit-fuse').textContent()).toBe('fuse L1 20 A · L2 20 A · L3 20 A');
    const board = await waitFor(async () => ((await apiCircuit('board')).limits ? apiCircuit('board') : undefined), 5_000, 'board limits');
    for (const p of ['L1', 'L2', 'L3'] as const) {
      expect(await bar('board', p).getAttribute('data-fuse')).toBe('20');
      await expect.poll(() => bar('board', p).getAttribute('data-limit')).toBe(String(board.limits![p]));
      expect(await bar('board', p).getAttribute('data-allocated')).toBe('0');
    }
    // Each card sits under its own circuit only.
    await expect.poll(() => own('board').locator('[data-charger=BOARD-1]').count()).toBe(1);
    expect(await own('main').locator('[data-charger=MAIN-1]').count()).toBe(1);
    expect(await own('main').locator('[data-charger=BOARD-1]').count()).toBe(0);
    expect(await own('board').locator('[data-charger=MAIN-1]').count()).toBe(0);
    shots.push(...(await screenshots(page, 'circuits-idle')));
  });

  it("moves the board's allocation when its charger charges, and keeps the keyboard focus in its card", async () => {
    const link = own('board').locator('[data-charger=BOARD-1] h3 a');
    await link.focus();
    await onBoard.plugIn();
    const limit = await onBoard.waitForLimit((l) => l > 0);
    await onBoard.meter(10);
    await expect.poll(async () => Number(await bar('board', 'L1').getAttribute('data-allocated')), { timeout: 8_000 }).toBeGreaterThan(0);
    await expect.poll(() => bar('board', 'L1').getAttribute('data-measured'), { timeout: 8_000 }).toBe('10');
    // The page shows what the API says is allocated on the board, and the charger's limit fits in it.
    const allocated = await waitFor(async () => {
      const api = (await apiCircuit('board')).allocated?.L1;
      return api !== undefined && api !== null && String(api) === (await bar('board', 'L1').getAttribute('data-allocated')) ? api : undefined;
    }, 8_000, 'UI allocation = API allocation');
    expect(allocated).toBeGreaterThanOrEqual(Math.min(limit, onBoard.limit!));
    expect(allocated).toBeLessThanOrEqual(Number(await bar('board', 'L1').getAttribute('data-limit')));
    expect(await bar('board', 'L1').locator('.phase-nums').textContent()).toMatch(/^drawn 10 A · allocated [\d.]+ A · limit [\d.]+ A \(fuse( less margin)?\) · fuse 20 A$/);
    // Main counts the board's charger too.
    expect(Number(await bar('main', 'L1').getAttribute('data-allocated'))).toBeGreaterThanOrEqual(allocated);
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('BOARD-1');
    shots.push(...(await screenshots(page, 'circuits-charging')));
  });

  it("shows the board meter's failsafe banner while it has no reading, then the reading put through the API", async () => {
    expect((await apiCall('PUT', `/installations/${INST}/circuits/board`, { ...BOARD, meter: { maxAgeS: 600 } }, installerToken)).status).toBe(200);
    const banner = own('board').locator('.banner.circuit-failsafe');
    await banner.waitFor({ state: 'visible', timeout: 8_000 });
    expect(await banner.getAttribute('role')).toBe('alert');
    expect(await banner.textContent()).toBe('Meter silent: the chargers on this circuit share L1 0 A · L2 0 A · L3 0 A (no reading yet, so 0 A).');
    expect(await own('board').locator('.meter-reading').textContent()).toBe('no reading yet');
    await expect.poll(() => bar('board', 'L1').getAttribute('data-limit')).toBe('0');
    expect(await bar('board', 'L1').locator('.phase-nums').textContent()).toContain('limit 0 A (meter failsafe)');
    // The installation-wide failsafe banner is not the board's.
    expect(await page.locator('.banner.failsafe').isVisible()).toBe(false);
    shots.push(...(await screenshots(page, 'circuits-meter-failsafe')));

    const put = await apiCall('PUT', `/installations/${INST}/circuits/board/meter`, { L1: 12, L2: 11, L3: 10 }, installerToken);
    expect(put.status).toBe(202);
    await expect.poll(() => own('board').locator('.meter-reading').textContent(), { timeout: 8_000 }).toMatch(/^L1 12 A · L2 11 A · L3 10 A \(\d+ s ago\)$/);
    await banner.waitFor({ state: 'hidden' });
    expect(await own('board').getAttribute('data-failsafe')).toBe(null);
    expect(await page.locator('li[data-circuit=board]').getAttribute('data-failsafe')).toBe('false');
    // Other load and the limit in force are the balancer's, as the API reports them.
    const board = await waitFor(async () => {
      const c = await apiCircuit('board');
      return c.meter?.otherLoad && !c.meter.failsafe && c.limits ? c : undefined;
    }, 8_000, 'board metered');
    await expect.poll(() => own('board').locator('.other-load').textContent()).toBe(perPhase(board.meter!.otherLoad!));
    await expect.poll(() => bar('board', 'L1').getAttribute('data-limit')).toBe(String(board.limits!.L1));
    expect(await bar('board', 'L1').locator('.phase-nums').textContent()).toContain('(fuse less margin and other load)');
    shots.push(...(await screenshots(page, 'circuits-meter')));
  });

  it('a bad meter reading is refused naming the field, and the page keeps the last one', async () => {
    const bad = await apiCall('PUT', `/installations/${INST}/circuits/board/meter`, { L1: -3, L2: 1, L3: 1 }, installerToken);
    expect(bad.status).toBe(400);
    expect((bad.json.error as { field?: string }).field).toBe('L1');
    expect(await own('board').locator('.meter-reading').textContent()).toMatch(/^L1 12 A · L2 11 A · L3 10 A /);
  });

  it("names the charger's circuit on the charger's own page", async () => {
    await own('board').locator('[data-charger=BOARD-1] h3 a').click();
    await page.locator('h1', { hasText: 'BOARD-1' }).waitFor();
    await expect.poll(() => page.locator('[data-charger=BOARD-1] dd.circuit').textContent(), { timeout: 5_000 }).toBe('Board A (board)');
    shots.push(...(await screenshots(page, 'circuits-charger')));
    // The installation page's tree already says it: no label there.
    await page.goBack();
    await page.locator('main[data-live=live]').waitFor();
    await own('board').locator('[data-charger=BOARD-1]').waitFor();
    expect(await page.locator('dd.circuit').count()).toBe(0);
  });

  it('had no script errors', () => {
    expect(browser.errors).toEqual([]);
    expect(shots.length).toBe(10);
  });
});
