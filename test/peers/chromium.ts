/**
 * Real headless Chromium for the browser tests: Debian's `chromium` package
 * driven by playwright-core (no downloaded browser: never `npx playwright
 * install`). Each context gets a fresh --user-data-dir, removed on close.
 *
 *   const browser = await launchChromium({ javaScriptEnabled: false });
 *   const page = await browser.context.newPage();
 *   ...
 *   await browser.close();
 *
 * Throws with a clear message when Chromium is not installed, so a browser
 * test fails instead of silently skipping.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface ChromiumPeer {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(opts: { javaScriptEnabled?: boolean; httpCredentials?: { username: string; password: string }; locale?: string } = {}): Promise<ChromiumPeer> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM}: the browser tests need Debian's chromium package (apt-get install -y chromium, or scripts/install-peers.sh as root). They fail rather than skip.`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'sakimori-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(dir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      locale: opts.locale ?? 'ja-JP',
      viewport: { width: 1000, height: 900 },
      ...(opts.javaScriptEnabled !== undefined ? { javaScriptEnabled: opts.javaScriptEnabled } : {}),
      ...(opts.httpCredentials ? { httpCredentials: opts.httpCredentials } : {}),
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`Chromium at ${CHROMIUM} did not start: ${(err as Error).message}`, { cause: err });
  }
  return {
    context,
    async close() {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
