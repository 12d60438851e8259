import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * Debian's chromium driven by playwright-core (no browser download), headless, with
 * nothing that reaches the internet. Console errors and failed requests of the page are
 * collected: a test can require that there were none.
 */

export const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts');

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface PageProblems {
  /** console.error lines and uncaught exceptions. */
  errors: string[];
  /** Requests that failed or answered ≥ 400, other than the expected ones. */
  failed: string[];
}

export async function openPage(
  browser: Browser,
  url: string,
): Promise<{ page: Page; problems: PageProblems }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: PageProblems = { errors: [], failed: [] };
  page.on('console', (m) => {
    if (m.type() === 'error') problems.errors.push(m.text());
  });
  page.on('pageerror', (e) => problems.errors.push(`${e.name}: ${e.message}`));
  page.on('requestfailed', (r) =>
    problems.failed.push(`${r.url()} ${r.failure()?.errorText ?? ''}`),
  );
  page.on('response', (r) => {
    if (r.status() >= 400) problems.failed.push(`${r.url()} ${String(r.status())}`);
  });
  await page.goto(url);
  return { page, problems };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
