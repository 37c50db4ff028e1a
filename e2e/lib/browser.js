// What every browser test shares: Debian's Chromium launched headless by playwright-core
// (a fresh profile per launch), screenshots under target/e2e/ checked not to be blank,
// the axe-core audit (WCAG 2.1 A and AA), the password form, and landing back at a
// relying party.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const SHOTS = new URL('../../target/e2e/', import.meta.url).pathname;
export const PASSWORD = 'correct horse battery staple';
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const FLAGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

/** Launches headless Chromium. `blank` names the screenshot of an empty page that later
 *  screenshots are compared with (`shoot`). */
export async function launchBrowser(blank) {
  mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  const page = await browser.newPage();
  const blankSize = (await page.screenshot({ path: join(SHOTS, `${blank}.png`) })).length;
  await page.close();
  return {
    browser,
    /** Screenshots the whole page as `name.png`; a page with content compresses far
     *  worse than an empty one of the same size. */
    async shoot(page, name) {
      const path = join(SHOTS, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      assert.ok(statSync(path).size > blankSize * 2, `${name}.png looks blank (${statSync(path).size} bytes vs ${blankSize})`);
    },
    close: () => browser.close(),
  };
}

/** Runs axe-core (WCAG 2.1 A and AA) on the page as it is. axe-core is injected, which
 *  Usher's CSP forbids: the page's context must have `bypassCSP: true`. */
export async function audit(page, name) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() => globalThis.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
  }));
  const summary = result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(', ')})`);
  assert.deepEqual(summary, [], `accessibility violations on the ${name} page`);
}

/** Fills Usher's login form and presses "Sign in". */
export async function login(page, username, password = PASSWORD) {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: /^sign in$/i }).click();
}

/** Finishes at the relying party: allows on the consent page if it is shown; returns the
 *  ID token claims the relying party verified. */
export async function landAtRp(page, rp) {
  const sub = page.locator('#sub');
  const allow = page.getByRole('button', { name: /allow/i });
  await sub.or(allow).first().waitFor();
  if (await allow.isVisible()) await allow.click();
  await sub.waitFor();
  assert.match(page.url(), new RegExp(`^${rp.base}/callback`));
  return rp.lastClaims;
}

/** The text of the page's alert. */
export async function alertText(page) {
  const alert = page.getByRole('alert');
  await alert.waitFor();
  return alert.innerText();
}
