// Debian's Chromium driven by playwright-core (no browser download): headless, with the flags that
// keep it off the network (it talks only to the cluster the test started), a fresh profile (Playwright's
// own temporary one), and a
// screenshot of the final screen of each test in tests/e2e/output/<suite>/.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env['PADDOCK_CHROMIUM'] ?? '/usr/bin/chromium';
const OUTPUT_ROOT = join(import.meta.dirname, '..', 'output');

export type BrowserSession = {
  browser: Browser;
  newPage: () => Promise<Page>;
  /** Saves the page's final screen as <output>/<suite>/<name>.png and returns the path. */
  screenshot: (page: Page, name: string) => Promise<string>;
  close: () => Promise<void>;
};

export async function startBrowser(suite: string): Promise<BrowserSession> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
  const outDir = join(OUTPUT_ROOT, suite);
  mkdirSync(outDir, { recursive: true });
  return {
    browser,
    newPage: async () => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      return context.newPage();
    },
    screenshot: async (page, name) => {
      const path = join(outDir, `${name.replace(/[^a-z0-9-]+/gi, '-')}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    close: async () => {
      await browser.close().catch(() => undefined);
    },
  };
}
