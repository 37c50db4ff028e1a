// Self-service sign-up in a real browser (headless Chromium, playwright-core), with
// `signup = "open"` and a small SMTP server of the test's own (e2e/lib/smtp.js):
//
// - "Create an account" on the sign-in page; a taken username is said and the form comes
//   back with what was typed; a new account's address is unverified (`email_verified`
//   false in the app's ID token) until the mailed link's button is pressed;
// - a taken address gets the very same page as a new account and its owner a mail; the
//   account is created all the same (so that its username tells nothing), its address
//   unverified;
// - an invitation made with `usher user invite` opens a form with its address fixed,
//   creates a verified account once, and is refused the second time.
//
// Every page state is audited with axe-core (WCAG 2.1 A and AA) and runs under Usher's
// real CSP, every `securitypolicyviolation` recorded (axe-core is injected through the
// DevTools protocol's evaluation, which the page's CSP does not govern).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { PASSWORD, alertText, audit, landAtRp, launchBrowser, login } from './lib/browser.js';
import { startRelyingParty } from './lib/rp.js';
import { linkIn, startSmtp } from './lib/smtp.js';
import { startUsher } from './lib/usher.js';

const NEW_PASSWORD = 'a passphrase of my own';

let smtp;
let usher;
let rp;
let ui;

before(async () => {
  smtp = await startSmtp();
  usher = await startUsher({
    USHER_SIGNUP: 'open',
    USHER_SMTP_URL: smtp.url,
    USHER_MAIL_FROM: 'Usher <no-reply@usher.test>',
  });
  const client = usher.cli(['client', 'create', '--json', '--name', 'Shop', '--redirect-uri', 'http://127.0.0.1/callback',
    '--grant-type', 'authorization_code', '--scope', 'openid profile email']);
  usher.cli(['user', 'create', '--json', '--username', 'alice', '--email', 'alice@example.com', '--email-verified',
    '--password-stdin'], `${PASSWORD}\n`);
  rp = await startRelyingParty({ issuer: usher.issuer, clientId: client.client_id, clientSecret: client.client_secret });
  ui = await launchBrowser('signup-blank');
});

after(async () => {
  await ui?.close();
  rp?.close();
  usher?.stop();
  smtp?.close();
});

/** A new browser (its own cookies) whose CSP violations are recorded in `violations`. */
async function newBrowser() {
  const context = await ui.browser.newContext();
  const violations = [];
  await context.exposeBinding('reportViolation', (_, v) => violations.push(v));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      globalThis.reportViolation(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const page = await context.newPage();
  return { context, page, violations };
}

/** Audits the page as it is and checks it has no inline script nor event-handler
 *  attribute and that nothing broke its CSP. */
async function check(page, violations, name) {
  await audit(page, name);
  const inline = await page.evaluate(() => [...document.querySelectorAll('script:not([src])')].length
    + [...document.querySelectorAll('*')].filter((e) => [...e.attributes].some((a) => a.name.startsWith('on'))).length);
  assert.equal(inline, 0, `inline script on the ${name} page`);
  assert.deepEqual(violations, [], `CSP violations on the ${name} page`);
  await ui.shoot(page, name);
}

/** Fills the sign-up form (the address only when the field is editable) and submits. */
async function fillSignup(page, { username, email, password = NEW_PASSWORD }) {
  await page.getByLabel('Username').fill(username);
  if (email !== undefined) await page.getByLabel('E-mail address').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByLabel('Password, again').fill(password);
  await Promise.all([
    page.waitForNavigation(),
    page.getByRole('button', { name: /create the account/i }).click(),
  ]);
}

describe('self-service sign-up in a browser', () => {
  let checkMailText;

  test('open sign-up: a taken username is said, the new address stays unverified until its link is confirmed', async () => {
    const { context, page, violations } = await newBrowser();
    await page.goto(`${rp.base}/login`);
    await page.getByRole('link', { name: /create an account/i }).click();
    await page.getByRole('heading', { name: /create an account/i }).waitFor();
    await check(page, violations, 'signup');

    await fillSignup(page, { username: 'alice', email: 'newcomer@example.com' });
    assert.match(await alertText(page), /username is taken/i);
    assert.equal(await page.getByLabel('Username').inputValue(), 'alice', 'what was typed comes back');
    assert.equal(await page.getByLabel('E-mail address').inputValue(), 'newcomer@example.com');
    assert.equal(await page.getByLabel('Username').getAttribute('aria-invalid'), 'true');
    await check(page, violations, 'signup-taken-username');

    await fillSignup(page, { username: 'newcomer', email: 'newcomer@example.com' });
    const done = page.locator('#signup-done');
    await done.waitFor();
    checkMailText = await done.innerText();
    await check(page, violations, 'signup-check-mail');

    const mail = await smtp.next();
    assert.match(mail, /To: <?newcomer@example\.com>?/i);
    const link = linkIn(mail, '/account/verify-email?token=').replace(usher.issuer, usher.base);

    // Signed in before the address is confirmed: the app is told it is not verified.
    await page.goto(`${rp.base}/login`);
    await login(page, 'newcomer', NEW_PASSWORD);
    let claims = await landAtRp(page, rp);
    assert.equal(claims.email, 'newcomer@example.com');
    assert.equal(claims.email_verified, false);

    // Opening the link changes nothing until its button is pressed.
    await page.goto(link);
    await check(page, violations, 'verify-email');
    await Promise.all([
      page.waitForNavigation(),
      page.getByRole('button', { name: /confirm my address/i }).click(),
    ]);
    await check(page, violations, 'verify-email-done');

    // The same browser signs in to the app again: now verified.
    await page.goto(`${rp.base}/login`);
    claims = await landAtRp(page, rp);
    assert.equal(claims.email_verified, true);
    await context.close();
  });

  test('a taken address gets the same page and its owner a mail; the address stays unverified', async () => {
    assert.ok(checkMailText, 'the first test ran');
    const { context, page, violations } = await newBrowser();
    await page.goto(`${usher.base}/signup`);
    const csrf = await page.locator('input[name="csrf"]').inputValue();
    await fillSignup(page, { username: 'mallory', email: 'alice@example.com' });
    const done = page.locator('#signup-done');
    await done.waitFor();
    assert.equal(await done.innerText(), checkMailText, 'the same answer as for a new address');
    await check(page, violations, 'signup-taken-address');

    const mail = await smtp.next();
    assert.match(mail, /To: <?alice@example\.com>?/i);
    assert.match(mail, /already uses it/);
    assert.match(mail, /cannot be confirmed for the/);
    const mallory = usher.cli(['user', 'show', 'mallory', '--json']);
    assert.equal(mallory.email_verified, false, 'the address is not confirmed for the new account');

    // The form token is single-use: the same form posted again is refused, nothing made.
    const replay = await page.request.post(`${usher.base}/signup`, {
      form: { csrf, username: 'mallory2', email: 'mallory@example.com', name: '', password: NEW_PASSWORD, confirm: NEW_PASSWORD },
      maxRedirects: 0,
    });
    assert.equal(replay.status(), 400, 'a spent sign-up form is refused');
    assert.throws(() => usher.cli(['user', 'show', 'mallory2', '--json']), /failed/);
    await context.close();
  });

  test('an invitation opens a form with its address fixed and makes one verified account', async () => {
    await usher.cliAsync(['user', 'invite', '--email', 'invited@example.com', '--name', 'In Vited', '--json']);
    const mail = await smtp.next();
    assert.match(mail, /To: .*invited@example\.com/i);
    // The CLI's issuer is the configured one (not this server's port): the link's path
    // and query, on this server.
    const mailed = new URL(linkIn(mail, '/signup?invite='));
    const link = `${usher.base}${mailed.pathname}${mailed.search}`;

    const { context, page, violations } = await newBrowser();
    await page.goto(link);
    const address = page.getByLabel('E-mail address');
    assert.equal(await address.inputValue(), 'invited@example.com');
    assert.equal(await address.getAttribute('readonly'), '');
    assert.equal(await page.getByLabel('Your name (optional)').inputValue(), 'In Vited');
    await check(page, violations, 'signup-invited');

    await fillSignup(page, { username: 'invited' });
    await page.getByRole('heading', { name: /your account is ready/i }).waitFor();
    await check(page, violations, 'signup-ready');

    const again = await page.goto(link);
    assert.equal(again.status(), 400, 'the invitation works once');
    await check(page, violations, 'signup-invitation-used');

    await page.goto(`${rp.base}/login`);
    await login(page, 'invited', NEW_PASSWORD);
    const claims = await landAtRp(page, rp);
    assert.equal(claims.email, 'invited@example.com');
    assert.equal(claims.email_verified, true, 'the invitation proved the mailbox');
    await context.close();
  });
});
