// The second sign-in step in a real browser (issue 14): headless Chromium driven by
// playwright-core against the real `usher` binary and two small relying parties, one of
// them registered with `--require-mfa`. The authenticator app is otplib, an independent
// TOTP implementation (RFC 6238: SHA-1, 6 digits, 30-second steps), fed the key the
// setup page shows. No test sleeps for the next 30-second step: Usher accepts a code of
// the step before or after the current one (±1 step of drift), so once the code of step T
// was used, the code of step T+1 is the "next code from the app".
//
// Each person is used by the tests that need their state (the factor and recovery codes
// made in one test are used by the next), so the tests of this file run in order.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { generate } from 'otplib';

import { PASSWORD, SHOTS, alertText, audit, landAtRp, launchBrowser, login } from './lib/browser.js';
import { startRelyingParty } from './lib/rp.js';
import { startUsher } from './lib/usher.js';

const ACR_MFA = 'urn:usher:acr:mfa';
const ACR_PWD = 'urn:usher:acr:pwd';
const PERIOD = 30;
// Usher's login_max_failures, which the second step's throttle shares; not configurable
// in the binary (usher-core's Settings default).
const MAX_FAILURES = 5;
const PEOPLE = ['alice', 'bob', 'carol', 'dave', 'erin'];

let usher;
let strict; // the relying party of the client registered with --require-mfa
let shop; // the relying party of an ordinary client
let ui; // the browser and its screenshots
let browser;
// What alice's setup left: the step of the code that confirmed her app, her key and her
// recovery codes (the test of that setup fills it; the next tests use it).
const alice = {};

before(async () => {
  usher = await startUsher();
  const create = (name, ...extra) => usher.cli(['client', 'create', '--json', '--name', name,
    '--redirect-uri', 'http://127.0.0.1/callback', '--post-logout-redirect-uri', 'http://127.0.0.1/signed-out',
    '--scope', 'openid profile email', ...extra]);
  const vault = create('Vault', '--require-mfa');
  assert.equal(vault.require_mfa, true, 'client create --require-mfa says so in its JSON');
  const plain = create('Shop');
  for (const username of PEOPLE) {
    usher.cli(['user', 'create', '--json', '--username', username, '--email', `${username}@example.com`,
      '--email-verified', '--password-stdin'], `${PASSWORD}\n`);
  }
  strict = await startRelyingParty({ issuer: usher.issuer, clientId: vault.client_id, clientSecret: vault.client_secret });
  strict.client = vault;
  shop = await startRelyingParty({ issuer: usher.issuer, clientId: plain.client_id, clientSecret: plain.client_secret });
  shop.client = plain;
  ui = await launchBrowser('two-step-blank');
  browser = ui.browser;
});

after(async () => {
  await ui?.close();
  strict?.close();
  shop?.close();
  usher?.stop();
});

// --- the authenticator app -------------------------------------------------------------

const stepNow = () => Math.floor(Date.now() / 1000 / PERIOD);

/** The app's code for a 30-second step (RFC 6238 with otplib: SHA-1, 6 digits). */
function codeAt(secret, step) {
  return generate({ secret, epoch: step * PERIOD, algorithm: 'sha1', digits: 6, period: PERIOD });
}

/** Every code Usher could accept for `secret` during this test: the steps around
 *  `around` (the step of a code already used) and around now. */
async function validCodes(secret, around) {
  const valid = new Set();
  for (const step of [around - 1, around, around + 1, around + 2, stepNow() - 1, stepNow(), stepNow() + 1]) {
    valid.add(await codeAt(secret, step));
  }
  return valid;
}

/** Codes of old steps that are no code Usher would accept now, so "wrong" is certain. */
async function wrongCodes(secret, around, count) {
  const valid = await validCodes(secret, around);
  const out = [];
  for (let step = around - 20; out.length < count; step -= 1) {
    const c = await codeAt(secret, step);
    if (!valid.has(c) && !out.includes(c)) out.push(c);
  }
  return out;
}

/** Waits, if needed, until the current step has at least `seconds` left, so that a code
 *  computed now is still the current one when Usher checks it. At most `seconds` long. */
async function awayFromStepEnd(seconds = 5) {
  const left = PERIOD - ((Date.now() / 1000) % PERIOD);
  if (left < seconds) await sleep(left * 1000 + 200);
}

// --- pages -----------------------------------------------------------------------------

const shoot = (page, name) => ui.shoot(page, name);

/** WCAG 2.1 1.4.10 (reflow), which axe-core does not check: at 320 CSS pixels wide, with
 *  every <details> open, the page does not scroll sideways. */
async function reflows(page, name) {
  const size = page.viewportSize();
  await page.setViewportSize({ width: 320, height: 640 });
  const { scroll, client } = await page.evaluate(() => {
    for (const d of document.querySelectorAll('details')) d.open = true;
    return { scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth };
  });
  await page.screenshot({ path: join(SHOTS, `two-step-narrow-${name.replaceAll(' ', '-')}.png`), fullPage: true });
  await page.evaluate(() => { for (const d of document.querySelectorAll('details')) d.open = false; });
  await page.setViewportSize(size);
  assert.ok(scroll <= client, `the ${name} page is ${scroll} px wide at 320 px: it scrolls sideways`);
}

/** Opens the relying party's sign-in (with extra query parameters) and signs in with the
 *  password; returns when Usher's next page has loaded. */
async function startSignIn(page, rp, username, query = '') {
  await page.goto(`${rp.base}/login${query}`);
  assert.match(page.url(), new RegExp(`^${usher.base}/authorize`));
  await login(page, username);
  await page.waitForLoadState();
}

/** Types `code` into the second-factor form and submits it; returns the HTTP status of
 *  the POST's answer (before any redirect it makes). */
async function submitCode(page, code) {
  await page.locator('#code').fill(code);
  const answered = page.waitForResponse((r) => r.request().method() === 'POST'
    && new URL(r.url()).pathname === '/authorize/second-factor');
  await page.locator('main form button[type=submit]').click();
  const response = await answered;
  await page.waitForLoadState();
  return response.status();
}

/** On the setup page: checks what it shows and returns the key. */
async function readSetup(page, username) {
  await page.locator('#totp-secret').waitFor();
  assert.equal(await page.locator('h1').innerText(), 'Set up an authenticator app');
  const secret = (await page.locator('#totp-secret').innerText()).trim();
  // 160 bits in base32 without padding: 32 symbols.
  assert.match(secret, /^[A-Z2-7]{32}$/, 'the key is 160 bits of base32');
  assert.equal(await page.locator('#totp-qr svg').count(), 1, 'an inline SVG QR code');
  const uri = new URL((await page.locator('#totp-uri').textContent()).trim());
  assert.equal(uri.protocol, 'otpauth:');
  assert.equal(uri.host, 'totp');
  assert.ok(decodeURIComponent(uri.pathname).endsWith(`:${username}`), `account ${uri.pathname}`);
  assert.equal(uri.searchParams.get('secret'), secret);
  assert.equal(uri.searchParams.get('algorithm'), 'SHA1');
  assert.equal(uri.searchParams.get('digits'), '6');
  assert.equal(uri.searchParams.get('period'), '30');
  return secret;
}

/** Sets up the app for a person on the setup page (the password was typed): confirms
 *  with the current code, keeps the recovery codes, continues to the relying party. */
async function setUpApp(page, rp, username, { shots = false, check = async () => {}, wrongFirst = false } = {}) {
  const secret = await readSetup(page, username);
  if (shots) await shoot(page, 'two-step-setup');
  await check(page, 'setup');
  if (wrongFirst) {
    // A wrong code: the same setup again (same key, nothing stored changes), 401.
    const [wrong] = await wrongCodes(secret, stepNow(), 1);
    assert.equal(await submitCode(page, wrong), 401);
    assert.match(await alertText(page), /not right/i);
    assert.equal(await readSetup(page, username), secret, 'the same key after a wrong code');
  }
  await awayFromStepEnd();
  const step = stepNow();
  assert.equal(await submitCode(page, await codeAt(secret, step)), 200);
  const items = page.locator('#recovery-codes li code');
  await items.first().waitFor();
  const codes = (await items.allInnerTexts()).map((c) => c.trim());
  assert.equal(codes.length, 10, 'ten recovery codes');
  assert.equal(new Set(codes).size, 10, 'all different');
  for (const c of codes) assert.match(c, /^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}$/);
  if (shots) await shoot(page, 'two-step-recovery-codes');
  await check(page, 'recovery codes');
  await page.getByRole('button', { name: /continue/i }).click();
  const claims = await landAtRp(page, rp);
  return { secret, step, codes, claims };
}

function assertMfa(claims, what) {
  assert.ok(claims.amr.includes('pwd'), `${what}: amr ${claims.amr}`);
  assert.ok(claims.amr.includes('otp'), `${what}: amr ${claims.amr}`);
  assert.ok(claims.amr.includes('mfa'), `${what}: amr ${claims.amr}`);
  assert.equal(claims.acr, ACR_MFA, `${what}: acr`);
}

async function secondFactorPage(page) {
  await page.locator('#code').waitFor();
  assert.equal(await page.locator('h1').innerText(), 'Two-step sign-in');
  assert.equal(await page.locator('#totp-secret').count(), 0, 'no setup: the person has an app');
}

/** What /introspect says of an access token, asked by the client it was issued to. */
async function introspect(rp, token) {
  const basic = Buffer.from(`${encodeURIComponent(rp.client.client_id)}:${encodeURIComponent(rp.client.client_secret)}`).toString('base64');
  const res = await fetch(`${usher.base}/introspect`, {
    method: 'POST',
    headers: { Authorization: `Basic ${basic}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }),
  });
  assert.equal(res.status, 200);
  return res.json();
}

// --- the tests -------------------------------------------------------------------------

describe('two-step sign-in in a browser', () => {
  test('discovery lists the acr values Usher supports', async () => {
    const discovery = await (await fetch(`${usher.issuer}/.well-known/openid-configuration`)).json();
    assert.ok(discovery.acr_values_supported.includes(ACR_MFA), JSON.stringify(discovery.acr_values_supported));
    assert.ok(discovery.acr_values_supported.includes(ACR_PWD), JSON.stringify(discovery.acr_values_supported));
  });

  test('a --require-mfa client: a person without an app sets one up, saves recovery codes and gets amr otp+mfa', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await startSignIn(page, strict, 'alice');
    const done = await setUpApp(page, strict, 'alice', { shots: true });
    Object.assign(alice, done);
    assertMfa(done.claims, 'ID token after setup');
    assert.match(done.claims.sub, /^[0-9a-f-]{36}$/);
    // The access token and introspection say the same.
    const [, payload] = strict.lastTokens.access_token.split('.');
    const access = JSON.parse(Buffer.from(payload, 'base64url'));
    assert.equal(access.acr, ACR_MFA, 'access token acr');
    assert.deepEqual([...access.amr].sort(), ['mfa', 'otp', 'pwd'], 'access token amr');
    assert.equal(typeof done.claims.auth_time, 'number', 'ID token auth_time');
    const seen = await introspect(strict, strict.lastTokens.access_token);
    assert.equal(seen.active, true);
    assert.equal(seen.acr, ACR_MFA, 'introspection acr');
    assert.deepEqual([...seen.amr].sort(), ['mfa', 'otp', 'pwd'], 'introspection amr');
    await context.close();
  });

  test('the next sign-in asks for a code: a used code and wrong codes are refused (401), the next code passes', async () => {
    assert.ok(alice.secret, 'the setup test ran first');
    const context = await browser.newContext();
    const page = await context.newPage();
    await startSignIn(page, strict, 'alice');
    await secondFactorPage(page);
    await shoot(page, 'two-step-code');

    // The very code that confirmed the app (same step): already used.
    assert.equal(await submitCode(page, await codeAt(alice.secret, alice.step)), 401);
    assert.match(await alertText(page), /already used/i);
    await shoot(page, 'two-step-code-used');

    // Wrong codes: 000000 (unless it happens to be valid) and an old step's code.
    const [old] = await wrongCodes(alice.secret, alice.step, 1);
    const wrong = (await validCodes(alice.secret, alice.step)).has('000000') ? [old] : ['000000', old];
    for (const code of wrong) {
      assert.equal(await submitCode(page, code), 401, `code ${code === '000000' ? '000000' : 'of an old step'}`);
      assert.match(await alertText(page), /not right/i);
      assert.equal(await page.locator('#code').getAttribute('aria-invalid'), 'true');
      await secondFactorPage(page);
    }
    // Not a code at all: refused the same way.
    assert.equal(await submitCode(page, 'letters'), 401);

    // The form works again: the app's next code (step T+1, within Usher's ±1 step).
    const next = await codeAt(alice.secret, alice.step + 1);
    const status = await submitCode(page, next);
    assert.ok(status === 200 || status === 302 || status === 303, `accepted: ${status}`);
    const claims = await landAtRp(page, strict);
    assertMfa(claims, 'ID token after an app code');
    assert.equal(claims.sub, alice.claims.sub);
    await context.close();

    // And that code is spent too, in another browser.
    const other = await browser.newContext();
    const again = await other.newPage();
    await startSignIn(again, strict, 'alice');
    await secondFactorPage(again);
    assert.equal(await submitCode(again, next), 401);
    assert.match(await alertText(again), /already used/i);
    await other.close();
  });

  test('a recovery code, typed in upper case with its dashes, signs in once', async () => {
    assert.equal(alice.codes?.length, 10, 'the setup test ran first');
    const code = alice.codes[3];
    const context = await browser.newContext();
    const page = await context.newPage();
    await startSignIn(page, strict, 'alice');
    await secondFactorPage(page);
    await submitCode(page, code.toUpperCase());
    const claims = await landAtRp(page, strict);
    assertMfa(claims, 'ID token after a recovery code');
    await context.close();

    const second = await browser.newContext();
    const again = await second.newPage();
    await startSignIn(again, strict, 'alice');
    await secondFactorPage(again);
    assert.equal(await submitCode(again, code), 401, 'a spent recovery code');
    assert.match(await alertText(again), /not right/i);
    // Another of her codes still works (spaces instead of dashes are forgiven too).
    await submitCode(again, alice.codes[4].replaceAll('-', ' '));
    assertMfa(await landAtRp(again, strict), 'ID token after another recovery code');
    await second.close();

    // A person with an app is asked for it by every client, not only --require-mfa ones.
    const third = await browser.newContext();
    const other = await third.newPage();
    await startSignIn(other, shop, 'alice');
    await secondFactorPage(other);
    await submitCode(other, alice.codes[5]);
    assertMfa(await landAtRp(other, shop), 'ID token of an ordinary client');
    await third.close();
  });

  test(`after ${MAX_FAILURES} wrong codes the page says to wait (429) and even a right code is refused`, async () => {
    const setup = await browser.newContext();
    const first = await setup.newPage();
    await startSignIn(first, strict, 'bob');
    const bob = await setUpApp(first, strict, 'bob', { wrongFirst: true });
    await setup.close();

    const context = await browser.newContext();
    const page = await context.newPage();
    await startSignIn(page, strict, 'bob');
    await secondFactorPage(page);
    for (const code of await wrongCodes(bob.secret, bob.step, MAX_FAILURES)) {
      assert.equal(await submitCode(page, code), 401);
      assert.match(await alertText(page), /not right/i);
    }
    // Right, unused, within the window: refused unchecked while the lock lasts.
    assert.equal(await submitCode(page, await codeAt(bob.secret, bob.step + 1)), 429);
    assert.match(await alertText(page), /too many failed attempts\. wait \d+ seconds?/i);
    await shoot(page, 'two-step-throttled');
    assert.equal(await submitCode(page, bob.codes[0]), 429, 'a recovery code is refused too');
    assert.match(page.url(), new RegExp(`^${usher.base}/`), 'still on Usher, nothing issued');
    await context.close();
  });

  test('the setup, the code page and the recovery codes work with JavaScript disabled', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await startSignIn(page, strict, 'carol');
    const carol = await setUpApp(page, strict, 'carol');
    assertMfa(carol.claims, 'ID token after setup without JavaScript');
    await context.close();

    const next = await browser.newContext({ javaScriptEnabled: false });
    const again = await next.newPage();
    await startSignIn(again, strict, 'carol');
    await secondFactorPage(again);
    const [wrong] = await wrongCodes(carol.secret, carol.step, 1);
    assert.equal(await submitCode(again, wrong), 401);
    await submitCode(again, await codeAt(carol.secret, carol.step + 1));
    assertMfa(await landAtRp(again, strict), 'ID token after a code without JavaScript');
    await next.close();
  });

  test('acr_values=urn:usher:acr:mfa on an ordinary client steps a password-only session up', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    // An ordinary client and a person without an app: the password alone.
    await startSignIn(page, shop, 'dave');
    const plain = await landAtRp(page, shop);
    assert.deepEqual(plain.amr, ['pwd']);
    assert.equal(plain.acr, ACR_PWD);
    // The session is enough for the same client without acr_values: no page at all.
    await page.goto(`${shop.base}/login`);
    await page.locator('#sub').waitFor();

    // Too weak for a --require-mfa client: prompt=none gets login_required (step-up
    // repeats the whole sign-in, password first), and nothing is issued.
    await page.goto(`${strict.base}/login?prompt=none`);
    await page.locator('#error').waitFor();
    assert.equal(await page.locator('#error').innerText(), 'login_required');

    // Asking for mfa: the session is too weak, so the login page comes again. dave has
    // no app, and a request's own acr_values never makes anyone enrol (whoever has the
    // password could enrol their own app): his password signs him in, and acr says so.
    await page.goto(`${shop.base}/login?acr_values=${encodeURIComponent(ACR_MFA)}`);
    await page.getByLabel('Password').waitFor();
    assert.match(page.url(), new RegExp(`^${usher.base}/authorize`));
    await login(page, 'dave');
    const asked = await landAtRp(page, shop);
    assert.equal(asked.acr, ACR_PWD);
    // The --require-mfa client has him set one up after his password.
    await startSignIn(page, strict, 'dave');
    const stepped = await setUpApp(page, strict, 'dave');
    assertMfa(stepped.claims, 'ID token after setup');
    assert.equal(stepped.claims.sub, plain.sub);

    // The stepped-up session now satisfies acr_values without any page.
    await page.goto(`${shop.base}/login?acr_values=${encodeURIComponent(ACR_MFA)}`);
    await page.locator('#sub').waitFor();
    assert.equal(shop.lastClaims.acr, ACR_MFA);
    await context.close();
  });

  test('the setup, recovery-codes and second-factor pages pass an axe-core WCAG 2.1 A/AA audit and reflow at 320 px', async () => {
    // axe-core is injected, which Usher's CSP forbids: bypass it for the audit only.
    const context = await browser.newContext({ bypassCSP: true });
    const page = await context.newPage();
    await startSignIn(page, strict, 'erin');
    const erin = await setUpApp(page, strict, 'erin', {
      check: async (p, name) => {
        await audit(p, name);
        await reflows(p, name);
      },
    });
    // The second-factor page: prompt=login asks for both steps again.
    await startSignIn(page, strict, 'erin', '?prompt=login');
    await secondFactorPage(page);
    await audit(page, 'second-factor');
    await reflows(page, 'second-factor');
    assert.equal(await submitCode(page, (await wrongCodes(erin.secret, erin.step, 1))[0]), 401);
    await audit(page, 'second-factor error');
    await submitCode(page, await codeAt(erin.secret, erin.step + 1));
    assertMfa(await landAtRp(page, strict), 'ID token after prompt=login with a code');
    await context.close();
  });
});
