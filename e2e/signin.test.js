// Sign in with Usher in a real browser: headless Chromium (Debian's package) driven by
// playwright-core, against the real `usher` binary and a small relying party. Every page
// a person sees is screenshotted under target/e2e/ and audited with axe-core (WCAG 2.1 A
// and AA). One run has JavaScript disabled: Usher's pages need none.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { PASSWORD, audit as auditPage, launchBrowser, login } from './lib/browser.js';
import { startRelyingParty } from './lib/rp.js';
import { startUsher } from './lib/usher.js';

let usher;
let rp;
let ui; // the browser and its screenshots
let browser;

before(async () => {
  usher = await startUsher();
  const client = usher.cli(['client', 'create', '--json', '--name', 'Shop', '--redirect-uri', 'http://127.0.0.1/callback',
    '--post-logout-redirect-uri', 'http://127.0.0.1/signed-out', '--grant-type', 'authorization_code', '--grant-type', 'refresh_token',
    '--scope', 'openid profile email offline_access']);
  usher.cli(['user', 'create', '--json', '--username', 'alice', '--email', 'alice@example.com', '--email-verified',
    '--name', 'Alice Liddell', '--password-stdin'], `${PASSWORD}\n`);
  rp = await startRelyingParty({ issuer: usher.issuer, clientId: client.client_id, clientSecret: client.client_secret });
  // A fresh profile every run: playwright gives each launch its own user-data-dir.
  ui = await launchBrowser('blank');
  browser = ui.browser;
});

after(async () => {
  await ui?.close();
  rp?.close();
  usher?.stop();
});

const shoot = (page, name) => ui.shoot(page, name);

async function audit(context, url, name, steps = async () => {}) {
  const page = await context.newPage();
  await page.goto(url);
  await steps(page);
  await auditPage(page, name);
  await page.close();
}

describe('signing in through Usher in a browser', () => {
  test('a person signs in, consents and lands back at the relying party', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${rp.base}/login`);
    assert.match(page.url(), new RegExp(`^${usher.base}/authorize`));
    await shoot(page, 'login');
    await login(page, 'alice', PASSWORD);
    await page.getByRole('button', { name: /allow/i }).waitFor();
    await shoot(page, 'consent');
    await page.getByRole('button', { name: /allow/i }).click();
    await page.locator('#sub').waitFor();
    assert.match(await page.locator('#sub').innerText(), /^[0-9a-f-]{36}$/);
    await context.close();
  });

  test('a wrong password shows an error and issues nothing', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${rp.base}/login`);
    await login(page, 'alice', 'not the password');
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.innerText(), /incorrect/i);
    assert.match(page.url(), new RegExp(`^${usher.base}/`), 'still on Usher, nothing issued');
    await shoot(page, 'login-error');
    await context.close();
  });

  test('denying consent returns access_denied to the relying party', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    // Consent was remembered by the first test: prompt=consent asks again.
    await page.goto(`${rp.base}/login?prompt=consent`);
    await login(page, 'alice', PASSWORD);
    await page.getByRole('button', { name: /deny/i }).click();
    await page.locator('#error').waitFor();
    assert.equal(await page.locator('#error').innerText(), 'access_denied');
    await context.close();
  });

  test('an untrusted request shows Usher\'s error page, not a redirect', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const response = await page.goto(`${usher.base}/authorize?client_id=nobody&response_type=code`);
    assert.equal(response.status(), 400);
    assert.match(page.url(), new RegExp(`^${usher.base}/authorize`));
    await shoot(page, 'error');
    await context.close();
  });

  test('the whole flow works with JavaScript disabled', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`${rp.base}/login`);
    await login(page, 'alice', PASSWORD);
    // Consent is remembered from the first test for this person and client.
    await page.locator('#sub').waitFor();
    await context.close();
  });

  test('logging out ends the session: the next sign-in asks for the password again', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${rp.base}/login`);
    await login(page, 'alice', PASSWORD);
    await page.locator('#sub').waitFor();
    await page.goto(`${rp.base}/logout`);
    await page.locator('#state').waitFor();
    assert.equal(await page.locator('#state').innerText(), 'bye');
    assert.match(page.url(), new RegExp(`^${rp.base}/signed-out`));
    // The session is gone: Usher asks for the password again.
    await page.goto(`${rp.base}/login`);
    await page.getByLabel('Password').waitFor();
    assert.match(page.url(), new RegExp(`^${usher.base}/authorize`));
    await login(page, 'alice', PASSWORD);
    await page.locator('#sub').waitFor();
    // A logout that cannot be tied to an application asks first, then confirms.
    await page.goto(`${usher.base}/logout`);
    await shoot(page, 'logout-confirm');
    await page.getByRole('button', { name: /sign out/i }).click();
    await page.getByRole('heading', { name: /signed out/i }).waitFor();
    await shoot(page, 'logged-out');
    await context.close();
  });

  test('every page passes an axe-core WCAG 2.1 A/AA audit', async () => {
    // The audit injects axe-core, which Usher's CSP (rightly) forbids: bypass it for the
    // audit only; the flows above ran under the real policy.
    const context = await browser.newContext({ bypassCSP: true });
    await audit(context, `${rp.base}/login`, 'login');
    await audit(context, `${rp.base}/login`, 'login error', (page) => login(page, 'alice', 'wrong'));
    await audit(context, `${usher.base}/authorize?client_id=nobody&response_type=code`, 'error');
    const signIn = await context.newPage();
    await signIn.goto(`${rp.base}/login`);
    await login(signIn, 'alice', PASSWORD);
    await signIn.locator('#sub').waitFor();
    await signIn.close();
    await audit(context, `${usher.base}/logout`, 'logout confirmation');
    await audit(context, `${usher.base}/logout`, 'signed out', async (page) => {
      await page.getByRole('button', { name: /sign out/i }).click();
      await page.getByRole('heading', { name: /signed out/i }).waitFor();
    });
    await audit(context, `${rp.base}/login?prompt=consent`, 'consent', async (page) => {
      await login(page, 'alice', PASSWORD);
      await page.getByRole('button', { name: /allow/i }).waitFor();
    });
    await context.close();
  });
});
