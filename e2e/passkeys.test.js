// Passkeys in a real browser (issue 14, docs/design/mfa.md): headless Chromium driven by
// playwright-core against the real `usher` binary and a small relying party, with
// Chromium's own virtual authenticator (Chrome DevTools Protocol, `WebAuthn` domain) as
// the person's device: a CTAP2 platform authenticator with discoverable credentials that
// verifies the person (as a screen lock would). Chromium, not a stand-in, runs
// navigator.credentials.create/get for assets/passkey.js and signs with the credential's
// private key; Usher (webauthn-rs) verifies what it posts.
//
// WebAuthn refuses IP addresses as relying-party ids: Usher runs with the issuer
// http://localhost:<port> (a secure context for Chromium, like https).
//
// A credential lives in the authenticator of the page that made it; the tests carry it to
// the next page as CDP exports it (private key and signature counter) and read it back
// after every use, so its counter keeps going up as a real device's would. The tests of
// this file run in order: each person's passkey, made in one test, is used by the next.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { PASSWORD, alertText, audit, landAtRp, launchBrowser, login } from './lib/browser.js';
import { startRelyingParty } from './lib/rp.js';
import { startUsher } from './lib/usher.js';

const ACR_PHR = 'phr';
// The login page's message for any refused passkey (usher-http flow::PASSKEY_NOT_ACCEPTED).
const NOT_ACCEPTED = /that passkey was not accepted/i;
const PEOPLE = ['alice', 'bob', 'carol'];

let usher;
let shop;
let ui; // the browser and its screenshots
let browser;
// Each person's passkey as the virtual authenticator exported it last, and the recovery
// codes its registration showed.
const keys = {};
const codes = {};

before(async () => {
  usher = await startUsher({}, { localhost: true });
  assert.match(usher.issuer, /^http:\/\/localhost:\d+$/, 'a host name as issuer: passkeys need one');
  const client = usher.cli(['client', 'create', '--json', '--name', 'Shop',
    '--redirect-uri', 'http://127.0.0.1/callback', '--post-logout-redirect-uri', 'http://127.0.0.1/signed-out',
    '--scope', 'openid profile email']);
  for (const username of PEOPLE) {
    usher.cli(['user', 'create', '--json', '--username', username, '--email', `${username}@example.com`,
      '--email-verified', '--password-stdin'], `${PASSWORD}\n`);
  }
  shop = await startRelyingParty({ issuer: usher.issuer, clientId: client.client_id, clientSecret: client.client_secret });
  ui = await launchBrowser('passkeys-blank');
  browser = ui.browser;
});

after(async () => {
  await ui?.close();
  shop?.close();
  usher?.stop();
});

const shoot = (page, name) => ui.shoot(page, name);

// --- the virtual authenticator ---------------------------------------------------------

/** A page whose tab has one virtual authenticator (CTAP2, internal transport, resident
 *  keys, user verification that succeeds) holding `credentials` (as CDP exported them).
 *  `context` options go to the browser context. The virtual authenticator answers an
 *  autofill (conditional) request at once, as if the person picked the passkey from the
 *  list; unless `autofill`, the page is told autofill is unavailable, so that only the
 *  passkey button starts a ceremony. */
async function pageWithAuthenticator(credentials = [], { autofill = false, ...context } = {}) {
  const ctx = await browser.newContext(context);
  if (!autofill) {
    await ctx.addInitScript(() => {
      if (globalThis.PublicKeyCredential) {
        globalThis.PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);
      }
    });
  }
  const page = await ctx.newPage();
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', ctap2Version: 'ctap2_1', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  for (const credential of credentials) {
    await cdp.send('WebAuthn.addCredential', { authenticatorId, credential });
  }
  const device = {
    /** The credentials the authenticator holds now (with their current counters). */
    async credentials() {
      return (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
    },
    /** The one credential it holds. */
    async only() {
      const all = await device.credentials();
      assert.equal(all.length, 1, 'the authenticator holds one credential');
      return all[0];
    },
  };
  return { ctx, page, device };
}

/** A credential as `WebAuthn.addCredential` takes it. */
function importable(c, changes = {}) {
  return {
    credentialId: c.credentialId, isResidentCredential: true, rpId: c.rpId,
    privateKey: c.privateKey, userHandle: c.userHandle, signCount: c.signCount, ...changes,
  };
}

// --- pages -----------------------------------------------------------------------------

/** The HTTP status of the POST to `path` that `action` makes the page send. */
async function postStatus(page, path, action) {
  const answered = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === path);
  await action();
  const status = (await answered).status();
  await page.waitForLoadState();
  return status;
}

/** Presses the passkey button (shown by the script once WebAuthn is available) on a login
 *  or second-factor page; returns the status of the answer's POST to `path`. */
async function usePasskey(page, path = '/authorize/passkey') {
  const button = page.locator('#passkey-button');
  await button.waitFor({ state: 'visible' });
  return postStatus(page, path, () => button.click());
}

/** Opens the relying party's sign-in and signs in with the passkey without typing
 *  anything; the status of the passkey POST. */
async function passkeySignIn(page, query = '') {
  await page.goto(`${shop.base}/login${query}`);
  assert.match(page.url(), new RegExp(`^${usher.issuer}/authorize`));
  assert.equal(await page.getByLabel('Username').inputValue(), '', 'no username typed');
  return usePasskey(page);
}

/** Opens /account (signing in there with the password, or the passkey when `passkey`). */
async function openAccount(page, username, { passkey = false } = {}) {
  await page.goto(`${usher.issuer}/account`);
  if (passkey) {
    assert.ok([200, 303].includes(await usePasskey(page)), 'passkey accepted');
  } else {
    await login(page, username);
  }
  await page.getByRole('heading', { name: 'Your account' }).waitFor();
  assert.match(page.url(), new RegExp(`^${usher.issuer}/account`));
}

/** On /account: adds a passkey named `name`; returns the recovery codes shown (the first
 *  second factor brings ten). */
async function addPasskey(page, name) {
  await page.getByLabel('Name of the new passkey').fill(name);
  const status = await postStatus(page, '/account/passkeys/add', () => page.locator('#passkey-add-button').click());
  assert.equal(status, 200, 'the passkey was added');
  await page.getByRole('heading', { name: 'Passkey added' }).waitFor();
  const shown = (await page.locator('ul.codes li code').allInnerTexts()).map((c) => c.trim());
  assert.equal(shown.length, 10, 'ten recovery codes with the first second factor');
  return shown;
}

/** The names of the passkeys the account page lists. */
async function listedPasskeys(page) {
  return (await page.locator('#passkey-list > li > strong').allInnerTexts()).map((n) => n.trim());
}

/** A person signs in at /account with the password and adds a passkey; keeps it. */
async function enrol(username, name) {
  const { ctx, page, device } = await pageWithAuthenticator();
  await openAccount(page, username);
  codes[username] = await addPasskey(page, name);
  keys[username] = await device.only();
  await ctx.close();
}

/** Signs in (in a fresh browser) with the person's passkey, lands at the relying party,
 *  keeps the credential's new counter; the ID token claims. */
async function signInWith(username) {
  const { ctx, page, device } = await pageWithAuthenticator([importable(keys[username])]);
  assert.ok([200, 303].includes(await passkeySignIn(page)), 'passkey accepted');
  const claims = await landAtRp(page, shop);
  keys[username] = await device.only();
  await ctx.close();
  return claims;
}

/** After a refused passkey: the login page again, its message, and no session (a
 *  prompt=none request gets login_required). */
async function refusedWithoutSession(page, status) {
  assert.equal(status, 401, 'the passkey answer is refused');
  assert.match(await alertText(page), NOT_ACCEPTED);
  assert.match(page.url(), new RegExp(`^${usher.issuer}/`), 'still on Usher, nothing issued');
  await page.goto(`${shop.base}/login?prompt=none`);
  await page.locator('#error').waitFor();
  assert.equal(await page.locator('#error').innerText(), 'login_required', 'no session');
}

// --- the tests -------------------------------------------------------------------------

describe('passkeys in a browser (virtual authenticator)', () => {
  test('a person adds a named passkey on /account after a password sign-in, and it is listed by that name', async () => {
    const { ctx, page, device } = await pageWithAuthenticator();
    await openAccount(page, 'alice');
    assert.deepEqual(await listedPasskeys(page), [], 'no passkey yet');
    await shoot(page, 'passkeys-account-empty');
    codes.alice = await addPasskey(page, 'Alice’s laptop <work>');
    await shoot(page, 'passkeys-added');
    const stored = await device.only();
    assert.equal(stored.rpId, 'localhost');
    assert.equal(stored.isResidentCredential, true, 'a discoverable credential');
    assert.ok(stored.userHandle, 'with a user handle');
    keys.alice = stored;

    // Adding a factor ended every earlier session, this one too: the account page asks
    // to sign in again, and the new passkey does it.
    await page.getByRole('link', { name: /back to your account/i }).click();
    await page.getByLabel('Password').waitFor();
    assert.ok([200, 303].includes(await usePasskey(page)), 'passkey accepted');
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    assert.deepEqual(await listedPasskeys(page), ['Alice’s laptop <work>']);
    await shoot(page, 'passkeys-account-listed');
    keys.alice = await device.only();
    await ctx.close();
  });

  test('a passkey sign-in from the login page, no username typed: amr hwk+user+mfa, acr phr', async () => {
    assert.ok(keys.alice, 'the test adding the passkey ran first');
    const before = keys.alice.signCount;
    const { ctx, page, device } = await pageWithAuthenticator([importable(keys.alice)]);
    await page.goto(`${shop.base}/login`);
    assert.equal(await page.getByLabel('Username').getAttribute('autocomplete'), 'username webauthn',
      'the username field offers passkeys as autofill');
    await shoot(page, 'passkeys-login');
    assert.ok([200, 303].includes(await usePasskey(page)), 'passkey accepted');
    const claims = await landAtRp(page, shop);
    assert.deepEqual([...claims.amr].sort(), ['hwk', 'mfa', 'user'], `amr ${claims.amr}`);
    assert.equal(claims.acr, ACR_PHR);
    assert.equal(typeof claims.auth_time, 'number');
    assert.ok(Math.abs(claims.auth_time - Date.now() / 1000) < 60, 'auth_time is now');
    // The ID token names alice: her user handle is her id (a UUID).
    const handle = Buffer.from(keys.alice.userHandle, 'base64').toString('hex');
    assert.equal(claims.sub.replaceAll('-', ''), handle, 'sub is the person the passkey belongs to');
    keys.alice = await device.only();
    assert.ok(keys.alice.signCount > before, 'the authenticator signed (its counter went up)');
    await ctx.close();
  });

  test('autofill: the passkey offered in the username field signs in without the button', async () => {
    // Chromium's virtual authenticator answers the page's conditional request at once,
    // as a person picking the passkey from the username field's list would.
    const { ctx, page, device } = await pageWithAuthenticator([importable(keys.alice)], { autofill: true });
    const answered = page.waitForResponse((r) => r.request().method() === 'POST'
      && new URL(r.url()).pathname === '/authorize/passkey');
    await page.goto(`${shop.base}/login`);
    assert.ok([200, 303].includes((await answered).status()), 'passkey accepted');
    const claims = await landAtRp(page, shop);
    assert.deepEqual([...claims.amr].sort(), ['hwk', 'mfa', 'user'], `amr ${claims.amr}`);
    assert.equal(claims.acr, ACR_PHR);
    keys.alice = await device.only();
    await ctx.close();
  });

  test('a passkey as the second step after a password: amr pwd+hwk+mfa', async () => {
    await enrol('bob', 'Bob’s key');
    const { ctx, page, device } = await pageWithAuthenticator([importable(keys.bob)]);
    await page.goto(`${shop.base}/login`);
    await login(page, 'bob');
    await page.getByRole('heading', { name: 'Two-step sign-in' }).waitFor();
    await shoot(page, 'passkeys-second-step');
    const status = await usePasskey(page, '/authorize/second-factor/passkey');
    assert.ok([200, 303].includes(status), `accepted: ${status}`);
    const claims = await landAtRp(page, shop);
    for (const method of ['pwd', 'hwk', 'mfa']) {
      assert.ok(claims.amr.includes(method), `amr ${claims.amr} has ${method}`);
    }
    assert.equal(claims.acr, ACR_PHR, 'a passkey is phishing-resistant');
    keys.bob = await device.only();
    await ctx.close();
  });

  test('a captured passkey answer posted again is refused: same form, a new form, a new ceremony', async () => {
    const { ctx, page, device } = await pageWithAuthenticator([importable(keys.alice)]);
    let captured = null;
    await page.route('**/authorize/passkey', async (route) => {
      if (!captured) captured = new URLSearchParams(route.request().postData());
      await route.continue();
    });
    assert.ok([200, 303].includes(await passkeySignIn(page)), 'passkey accepted');
    await landAtRp(page, shop);
    keys.alice = await device.only();
    const issued = shop.lastIdToken;
    assert.ok(captured?.get('credential') && captured.get('ceremony'), 'the answer was captured');

    // 1. The very same POST (its form and ceremony are spent).
    const again = await page.request.post(`${usher.issuer}/authorize/passkey`, {
      form: Object.fromEntries(captured), maxRedirects: 0,
    });
    assert.equal(again.status(), 400, 'the same POST again: its form is spent');

    // 2. A new login page's form (prompt=login) with the captured ceremony and answer.
    const postOnNewForm = async (ceremony) => {
      await page.goto(`${shop.base}/login?prompt=login`);
      await page.locator('#passkey-button').waitFor({ state: 'visible' });
      return postStatus(page, '/authorize/passkey', () => page.evaluate(([c, credential]) => {
        const form = document.getElementById('passkey-form');
        form.elements.ceremony.value = c;
        form.elements.credential.value = credential;
        setTimeout(() => form.submit(), 0);
      }, [ceremony, captured.get('credential')]));
    };
    assert.equal(await postOnNewForm(captured.get('ceremony')), 401, 'a spent ceremony');
    assert.match(await alertText(page), NOT_ACCEPTED);

    // 3. A new ceremony of this browser, answered with the old assertion (its challenge
    //    is the old one).
    await page.goto(`${shop.base}/login?prompt=login`);
    const fresh = await page.evaluate(async () => {
      const body = new URLSearchParams(new FormData(document.getElementById('passkey-form')));
      body.delete('credential');
      const res = await fetch('/authorize/passkey/options', { method: 'POST', body });
      return (await res.json()).ceremony;
    });
    assert.equal(await postOnNewForm(fresh), 401, 'an old assertion for a new challenge');
    assert.match(await alertText(page), NOT_ACCEPTED);
    assert.equal(shop.lastIdToken, issued, 'nothing more was issued');
    await ctx.close();
  });

  test('the passkey pages keep the CSP (script-src \'self\', no inline script) and pass axe-core with passkeys listed', async () => {
    const policies = new Map();
    const watch = (page) => page.on('response', (r) => {
      const path = new URL(r.url()).pathname;
      if (r.request().resourceType() === 'document' && r.url().startsWith(usher.issuer)) {
        policies.set(path, { csp: r.headers()['content-security-policy'], html: r.text().catch(() => '') });
      }
    });
    const { ctx, page, device } = await pageWithAuthenticator([importable(keys.alice)]);
    await page.addInitScript(() => {
      globalThis.violations = [];
      document.addEventListener('securitypolicyviolation', (e) => globalThis.violations.push(e.violatedDirective));
    });
    watch(page);
    await openAccount(page, 'alice', { passkey: true });
    keys.alice = await device.only();
    assert.deepEqual(await page.evaluate(() => globalThis.violations), [], 'the passkey sign-in ran under the CSP');
    // The account page: Usher's own script is allowed, an inline one is not.
    const csp = policies.get('/account').csp;
    assert.match(csp, /(^|;)\s*script-src 'self'\s*(;|$)/, csp);
    assert.match(csp, /(^|;)\s*default-src 'none'/, csp);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, csp);
    const inline = await page.evaluate(async () => {
      const s = document.createElement('script');
      s.textContent = 'globalThis.inlineRan = true;';
      document.body.append(s);
      await new Promise((r) => setTimeout(r, 100));
      return { ran: globalThis.inlineRan === true, violations: globalThis.violations };
    });
    assert.equal(inline.ran, false, 'an inline script does not run');
    assert.ok(inline.violations.some((d) => d.startsWith('script-src')), `reported: ${inline.violations}`);
    await ctx.close();

    // The second step's page offers a passkey too.
    const second = await pageWithAuthenticator();
    watch(second.page);
    await second.page.goto(`${shop.base}/login`);
    await login(second.page, 'bob');
    await second.page.locator('#passkey-button').waitFor({ state: 'visible' });
    await second.ctx.close();

    // Every page with a passkey form: the script is a same-origin file, never inline.
    const checked = [];
    for (const [path, { csp: policy, html }] of policies) {
      const body = await html;
      if (!/data-passkey=/.test(body)) continue;
      checked.push(path);
      assert.match(policy, /script-src 'self'/, `${path}: ${policy}`);
      assert.doesNotMatch(policy, /unsafe-inline/, `${path}: ${policy}`);
      for (const tag of body.match(/<script\b[^>]*>/g) ?? []) {
        assert.match(tag, /\ssrc="\/assets\/passkey\.js"/, `${path}: ${tag}`);
      }
      assert.doesNotMatch(body, /<script\b[^>]*>[^<]+<\/script>/, `${path}: inline script`);
      assert.doesNotMatch(body, /\son[a-z]+=/i, `${path}: an event-handler attribute`);
    }
    assert.ok(checked.includes('/account'), `the account page was checked: ${checked}`);
    assert.ok(checked.length >= 3, `the login, second-step and account pages were checked: ${checked}`);

    // axe-core on the account page listing a passkey (the audit injects axe-core, which
    // the CSP forbids: bypassed for the audit only), and on the passkey login page.
    const audited = await pageWithAuthenticator([importable(keys.alice)], { bypassCSP: true });
    await audited.page.goto(`${shop.base}/login`);
    await audited.page.locator('#passkey-button').waitFor({ state: 'visible' });
    await audit(audited.page, 'passkey login');
    await openAccount(audited.page, 'alice', { passkey: true });
    assert.deepEqual(await listedPasskeys(audited.page), ['Alice’s laptop <work>']);
    await audit(audited.page, 'account with a passkey');
    keys.alice = await audited.device.only();
    await audited.ctx.close();
  });

  test('another person\'s credential, and a cloned authenticator with a lower counter, are refused; the clone marks the passkey suspect', async () => {
    // Bob's second step with alice's (real, current) passkey: not his.
    const { ctx, page, device } = await pageWithAuthenticator([importable(keys.alice)]);
    await page.goto(`${shop.base}/login`);
    await login(page, 'bob');
    await page.getByRole('heading', { name: 'Two-step sign-in' }).waitFor();
    assert.equal(await usePasskey(page, '/authorize/second-factor/passkey'), 401, 'alice\'s passkey for bob');
    assert.match(await alertText(page), NOT_ACCEPTED);
    keys.alice = await device.only();
    await ctx.close();

    // Alice's credential id and key, but bob's user handle: the stored passkey is alice's.
    const forged = await pageWithAuthenticator([importable(keys.alice, { userHandle: keys.bob.userHandle })]);
    await refusedWithoutSession(forged.page, await passkeySignIn(forged.page));
    await forged.ctx.close();
    // Alice's own passkey still works (the forgery changed nothing).
    assert.equal((await signInWith('alice')).acr, ACR_PHR);

    // carol's passkey, used once (counter > 0 stored), then copied to a second device
    // whose counter starts lower.
    await enrol('carol', 'Carol’s phone');
    await signInWith('carol');
    assert.ok(keys.carol.signCount > 0, `carol's counter ${keys.carol.signCount}`);
    const clone = await pageWithAuthenticator([importable(keys.carol, { signCount: 0 })]);
    await refusedWithoutSession(clone.page, await passkeySignIn(clone.page));
    await clone.ctx.close();
    // From now on the passkey is suspect: even the original device is refused.
    const original = await pageWithAuthenticator([importable(keys.carol)]);
    await refusedWithoutSession(original.page, await passkeySignIn(original.page));
    await original.ctx.close();

    // carol signs in with her password and a recovery code; the account page says why.
    const recovering = await browser.newContext();
    const account = await recovering.newPage();
    await account.goto(`${usher.issuer}/account`);
    await login(account, 'carol');
    await account.getByRole('heading', { name: 'Two-step sign-in' }).waitFor();
    await account.locator('#code').fill(codes.carol[0]);
    await account.locator('main form button[type=submit]').first().click();
    await account.getByRole('heading', { name: 'Your account' }).waitFor();
    assert.deepEqual(await listedPasskeys(account), ['Carol’s phone']);
    assert.match(await account.locator('#passkey-list').innerText(), /may have been copied/i);
    await shoot(account, 'passkeys-suspect');
    await recovering.close();
  });

  test('a passkey removed on /account no longer signs in: no session, a clear message', async () => {
    const { ctx, page, device } = await pageWithAuthenticator([importable(keys.alice)]);
    await openAccount(page, 'alice', { passkey: true });
    keys.alice = await device.only();
    const remove = page.getByRole('button', { name: 'Remove Alice’s laptop <work>' });
    assert.equal(await postStatus(page, '/account/passkeys/remove', () => remove.click()), 200);
    assert.match(await page.getByRole('status').first().innerText(), /passkey was removed/i);
    assert.deepEqual(await listedPasskeys(page), []);
    await ctx.close();

    // The device still holds the credential; Usher no longer knows it.
    const later = await pageWithAuthenticator([importable(keys.alice)]);
    const status = await passkeySignIn(later.page);
    await shoot(later.page, 'passkeys-removed-refused');
    await refusedWithoutSession(later.page, status);
    await later.ctx.close();
  });
});
