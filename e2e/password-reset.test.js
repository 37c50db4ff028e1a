// "Forgot your password?" in a real browser (headless Chromium, playwright-core): the
// test runs a small SMTP server of its own (node:net, speaking the protocol), points
// `usher serve` at it with USHER_SMTP_URL, asks for a link from the sign-in page, opens
// the mailed link, sets a new password, and signs in with it; the old password fails,
// the link fails a second time, and an unknown address gets the same answer and no
// mail. The pages are audited with axe-core.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';

import { startRelyingParty } from './lib/rp.js';
import { linkIn, startSmtp } from './lib/smtp.js';
import { startUsher } from './lib/usher.js';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'a brand new passphrase';
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

let smtp;
let usher;
let rp;
let browser;

before(async () => {
  smtp = await startSmtp();
  usher = await startUsher({
    USHER_SMTP_URL: smtp.url,
    USHER_MAIL_FROM: 'Usher <no-reply@usher.test>',
  });
  const client = usher.cli(['client', 'create', '--json', '--name', 'Shop', '--redirect-uri', 'http://127.0.0.1/callback',
    '--grant-type', 'authorization_code', '--scope', 'openid profile email']);
  usher.cli(['user', 'create', '--json', '--username', 'alice', '--email', 'alice@example.com', '--email-verified',
    '--password-stdin'], `${PASSWORD}\n`);
  rp = await startRelyingParty({ issuer: usher.issuer, clientId: client.client_id, clientSecret: client.client_secret });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
});

after(async () => {
  await browser?.close();
  rp?.close();
  usher?.stop();
  smtp?.close();
});

async function audit(page, name) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() => globalThis.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
  }));
  const summary = result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(', ')})`);
  assert.deepEqual(summary, [], `accessibility violations on the ${name} page`);
}

async function askForLink(page, email) {
  await page.goto(`${rp.base}/login`);
  await page.getByRole('link', { name: /forgot your password/i }).click();
  await page.getByLabel('E-mail address').fill(email);
  await page.getByRole('button', { name: /send me a link/i }).click();
  const status = page.locator('#forgot-sent');
  await status.waitFor();
  return status.innerText();
}

async function signIn(page, password) {
  await page.goto(`${rp.base}/login`);
  await page.getByLabel('Username').fill('alice');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: /sign in/i }).click();
}

describe('a forgotten password, reset by mail in a browser', () => {
  test('an unknown address gets the same answer and no mail', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const unknown = await askForLink(page, 'nobody@example.com');
    await audit(page, 'forgot-sent');
    const known = await askForLink(page, 'alice@example.com');
    assert.equal(unknown, known);
    const mail = await smtp.next();
    assert.match(mail, /To: <?alice@example\.com>?/i);
    await new Promise((wake) => setTimeout(wake, 500));
    assert.equal(smtp.pending, 0, 'one mail only: none for the unknown address');
    await context.close();
    // Keep the link for the next test.
    globalThis.resetLink = linkIn(mail, '/password/reset?token=');
  });

  test('the mailed link sets a new password once; the old one fails, the new one works', async () => {
    const link = globalThis.resetLink.replace(usher.issuer, usher.base);
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(link);
    await audit(page, 'password-reset');
    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('New password, again').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: /set the new password/i }).click();
    await page.getByRole('heading', { name: /your password was changed/i }).waitFor();

    const again = await page.goto(link);
    assert.equal(again.status(), 400, 'the link works once');

    await signIn(page, PASSWORD);
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(page.url(), new RegExp(`^${usher.base}/`), 'the old password signs nobody in');

    await signIn(page, NEW_PASSWORD);
    // The first sign-in for this app: allow it, and land back at the relying party.
    await page.getByRole('button', { name: /allow/i }).click();
    await page.locator('#sub').waitFor();
    await context.close();
  });
});
