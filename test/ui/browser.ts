import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's chromium (scripts/setup.sh installs it); playwright-core drives it and downloads nothing. */
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const SCREENSHOT_DIR = join('reports', 'ui-screenshots');
export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };

export interface TestBrowser {
  context: BrowserContext;
  /** Console errors and uncaught exceptions of every page (CSP violations show up here too). */
  errors: string[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/** One headless Chromium per test file, with a fresh user-data dir removed afterwards. */
export async function launchBrowser(): Promise<TestBrowser> {
  const dir = await mkdtemp(join(tmpdir(), 'ui-chromium-'));
  const context = await chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: DESKTOP });
  context.setDefaultTimeout(8_000);
  const errors: string[] = [];
  const watch = (page: Page): void => {
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      // A refused request (401/404 the test provokes) is logged by Chromium as a console error; the page handles it.
      if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) errors.push(`console: ${m.text()}`);
    });
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  return {
    context,
    errors,
    newPage: () => context.newPage(),
    close: async () => {
      await context.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Writes `<name>-desktop.png` and `<name>-phone.png` (full page) and restores the desktop size. */
export async function screenshots(page: Page, name: string): Promise<string[]> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const out: string[] = [];
  for (const [label, size] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
    await page.setViewportSize(size);
    // Let the chart follow the new width (ResizeObserver) before the shot.
    await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
    const path = join(SCREENSHOT_DIR, `${name}-${label}.png`);
    await page.screenshot({ path, fullPage: true });
    out.push(path);
  }
  await page.setViewportSize(DESKTOP);
  return out;
}

export type ApiCall = (method: string, path: string, body?: unknown, token?: string) => Promise<{ status: number; json: Record<string, unknown> }>;

/** The API as the dashboard calls it, with `adminToken` unless another token is given. */
export function apiClient(base: () => string, adminToken: string): ApiCall {
  return async (method, path, body, token = adminToken) => {
    const res = await fetch(`${base()}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };
}

/** Logs in with `token` on the login page and waits for the installations list. */
export async function logIn(page: Page, base: string, token: string): Promise<void> {
  await page.goto(`${base}/ui/`);
  await page.getByLabel('API token').fill(token);
  await page.keyboard.press('Enter');
  await page.locator('h1', { hasText: 'Installations' }).waitFor();
}
