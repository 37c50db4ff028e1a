// The account page in a real browser (headless Chromium, playwright-core), with an app
// that hears of logouts: a relying party registered with a back-channel logout URI that
// points at a small HTTP listener of this test, asking for `offline_access` so that it
// holds refresh tokens. A person signs in through the real code flow in two browser
// contexts (two browsers, separate cookies) and, on /account:
//
// - "Sign out everywhere" ends the other browser, every refresh token of the person, and
//   the app receives one logout token per browser session (verified with `jose` against
//   Usher's JWKS: `typ` `logout+jwt`, `iss`, `aud`, `events`, the ID token's `sid`, `sub`,
//   `jti`, `iat`, `exp`, no `nonce`);
// - "Sign out" of the other browser ends that one only;
// - a reused refresh token revokes its family and the app is told too;
// - "Remove access" ends the app's refresh token and the next sign-in asks for consent;
// - a password change needs the current password, signs the other browser out, and the
//   old password stops working.
//
// Every account page state visited is audited with axe-core (WCAG 2.1 A and AA) and
// checked for its CSP: the flows run under Usher's real policy (no bypass), with every
// `securitypolicyviolation` recorded, no inline script and no event-handler attribute
// (axe-core is injected through the DevTools protocol's evaluation, which the page's CSP
// does not govern: no `bypassCSP` is needed for the audit).
// The back-channel delivery is asynchronous (a durable queue polled every
// `[backchannel] poll_interval`, 1 s here): the listener is awaited with a bounded wait,
// never a sleep.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';

import { PASSWORD, alertText, audit, landAtRp, launchBrowser, login } from './lib/browser.js';
import { startRelyingParty } from './lib/rp.js';
import { startUsher } from './lib/usher.js';

const NEW_PASSWORD = 'a brand new passphrase';
const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const PEOPLE = ['alice', 'bob', 'carol', 'dan', 'erin'];
/** How long the back-channel delivery may take: a poll interval of 1 s, plus slack for a
 *  slow machine. Only a failure waits this long. */
const DELIVERY_WAIT_MS = 20_000;

/** The relying party's back-channel logout endpoint: keeps every POST it receives. */
async function startBackchannelListener() {
  const received = [];
  const waiting = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/backchannel-logout') {
        res.writeHead(404);
        res.end();
        return;
      }
      const token = new URLSearchParams(body).get('logout_token') ?? '';
      let claims = {};
      try { claims = decodeJwt(token); } catch { /* kept: the verification says why */ }
      received.push({ type: req.headers['content-type'] ?? '', token, claims });
      waiting.splice(0).forEach((wake) => wake());
      res.writeHead(200, { 'Cache-Control': 'no-store' });
      res.end();
    });
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    uri: `http://127.0.0.1:${server.address().port}/backchannel-logout`,
    /** Every logout received so far whose (unverified) claims match. */
    matching: (predicate) => received.filter((r) => predicate(r.claims)),
    /** Waits (bounded) until `count` logouts match; returns them in arrival order. */
    async waitFor(predicate, count, what) {
      const deadline = Date.now() + DELIVERY_WAIT_MS;
      for (;;) {
        const found = received.filter((r) => predicate(r.claims));
        if (found.length >= count) return found;
        const left = deadline - Date.now();
        assert.ok(left > 0, `${found.length} of ${count} logout tokens (${what}) arrived within ${DELIVERY_WAIT_MS} ms`);
        await new Promise((wake) => { waiting.push(wake); setTimeout(wake, Math.min(left, 1000)); });
      }
    },
    close: () => server.close(),
  };
}

let usher;
let rp;
let client;
let backchannel;
let jwks;
let ui;
const subs = new Map(); // username → sub, learned from the first ID token

before(async () => {
  backchannel = await startBackchannelListener();
  usher = await startUsher({ USHER_BACKCHANNEL__POLL_INTERVAL: '1' });
  client = usher.cli(['client', 'create', '--json', '--name', 'Shop', '--redirect-uri', 'http://127.0.0.1/callback',
    '--grant-type', 'authorization_code', '--grant-type', 'refresh_token', '--scope', 'openid profile email offline_access',
    '--backchannel-logout-uri', backchannel.uri, '--backchannel-logout-session-required']);
  for (const name of PEOPLE) {
    usher.cli(['user', 'create', '--json', '--username', name, '--email', `${name}@example.com`, '--email-verified',
      '--password-stdin'], `${PASSWORD}\n`);
  }
  rp = await startRelyingParty({
    issuer: usher.issuer, clientId: client.client_id, clientSecret: client.client_secret,
    scope: 'openid profile email offline_access',
  });
  const discovery = await (await fetch(`${usher.issuer}/.well-known/openid-configuration`)).json();
  assert.equal(discovery.backchannel_logout_supported, true);
  assert.equal(discovery.backchannel_logout_session_supported, true);
  jwks = createRemoteJWKSet(new URL(discovery.jwks_uri));
  ui = await launchBrowser('account-blank');
});

after(async () => {
  await ui?.close();
  rp?.close();
  usher?.stop();
  backchannel?.close();
});

/** A new browser (its own cookies) under Usher's real CSP: every violation is recorded,
 *  and the policy of every Usher page it loads is kept for `check`. */
async function newBrowser() {
  const context = await ui.browser.newContext();
  await context.addInitScript(() => {
    globalThis.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      globalThis.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const page = await context.newPage();
  page.on('response', (r) => {
    if (r.request().isNavigationRequest() && r.url().startsWith(usher.issuer)) {
      page.usherPolicy = r.headers()['content-security-policy'] ?? '';
    }
  });
  return { context, page };
}

/** The checks of every state of a page: the CSP (no script but Usher's own, nothing unsafe),
 *  nothing it blocked, no inline script or event-handler attribute, and axe-core. */
async function check(page, name) {
  const csp = page.usherPolicy;
  // No script at all (default-src 'none'), or Usher's own files only (the passkey script,
  // on an issuer where passkeys work).
  assert.match(csp, /(^|;)\s*default-src 'none'/, `${name}: ${csp}`);
  const scripts = csp.split(';').map((d) => d.trim()).filter((d) => /^script-src(-elem|-attr)?\s/.test(d));
  assert.ok(scripts.every((d) => d === "script-src 'self'"), `${name}: ${csp}`);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, `${name}: ${csp}`);
  const seen = await page.evaluate(() => ({
    violations: globalThis.cspViolations ?? [],
    inline: [...document.scripts].filter((s) => !s.src).map((s) => s.outerHTML.slice(0, 80)),
    handlers: [...document.querySelectorAll('*')].flatMap((e) => [...e.attributes]
      .filter((a) => /^on/i.test(a.name)).map((a) => `${e.tagName.toLowerCase()} ${a.name}`)),
  }));
  assert.deepEqual(seen.violations, [], `${name}: CSP violations`);
  assert.deepEqual(seen.inline, [], `${name}: inline scripts`);
  assert.deepEqual(seen.handlers, [], `${name}: event-handler attributes`);
  await audit(page, name);
}

/** Signs `username` in at the relying party (the password if Usher asks for it, consent
 *  if it asks); returns the verified ID token claims and the tokens. */
async function signInAtRp(page, username, password = PASSWORD) {
  await page.goto(`${rp.base}/login`);
  const password_ = page.getByLabel('Password', { exact: true });
  const sub = page.locator('#sub');
  const allow = page.getByRole('button', { name: /allow/i });
  await password_.or(sub).or(allow).first().waitFor();
  if (await password_.isVisible()) await login(page, username, password);
  const claims = await landAtRp(page, rp);
  const tokens = rp.lastTokens;
  assert.ok(tokens.refresh_token, 'offline_access brings a refresh token');
  assert.ok(claims.sid, 'the ID token names its session');
  if (subs.has(username)) assert.equal(claims.sub, subs.get(username));
  subs.set(username, claims.sub);
  return { claims, refreshToken: tokens.refresh_token };
}

/** A refresh at Usher's token endpoint, as the relying party does it. */
async function refresh(refreshToken) {
  const basic = Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64');
  const res = await fetch(`${usher.issuer}/token`, {
    method: 'POST',
    headers: { Authorization: `Basic ${basic}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
  });
  return { status: res.status, body: await res.json() };
}

/** Refreshes and expects a new refresh token; returns it. */
async function refreshes(refreshToken, what) {
  const { status, body } = await refresh(refreshToken);
  assert.equal(status, 200, `${what}: ${JSON.stringify(body)}`);
  assert.ok(body.refresh_token && body.refresh_token !== refreshToken, `${what}: rotated`);
  return body.refresh_token;
}

async function refused(refreshToken, what) {
  const { status, body } = await refresh(refreshToken);
  // Only the error is shown: a wrongly issued token has no place in the test's output.
  const said = `${what}: ${status} ${body.error ?? 'tokens issued'}`;
  assert.equal(status, 400, said);
  assert.equal(body.error, 'invalid_grant', said);
}

/** Opens /account in a browser that is signed in. */
async function openAccount(page) {
  await page.goto(`${usher.issuer}/account`);
  await page.getByRole('heading', { name: 'Your account', level: 1 }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/account');
}

/** Opens /account in a browser that is signed out: Usher asks for the password. */
async function askedToSignIn(page, what) {
  await page.goto(`${usher.issuer}/account`);
  await page.getByLabel('Password', { exact: true }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/authorize', `${what}: the account page asks to sign in`);
}

/** The per-browser sign-out buttons: one per browser the page lists. */
const browserButtons = (page) => page.getByRole('button', { name: /^sign out (this|that) browser\b/i });

/** Sends one of the account page's forms (`send` fills it and presses its button); when
 *  the account gate asks for a fresh sign-in first, signs in and sends it again. Returns
 *  the status of the answer. */
async function submit(page, username, send, password = PASSWORD) {
  const answer = page.waitForResponse((r) => r.request().isNavigationRequest() && r.request().method() === 'POST');
  const navigated = page.waitForNavigation(); // to the answer, or through a 303 to its end
  await send();
  const [response] = await Promise.all([answer, navigated]);
  if (new URL(page.url()).pathname === '/authorize') {
    await login(page, username, password);
    await page.getByRole('heading', { name: 'Your account', level: 1 }).waitFor();
    return submit(page, username, send, password);
  }
  return response.status();
}

/** Verifies a received logout token as a relying party must (Back-Channel Logout 1.0
 *  §2.6) with jose against Usher's JWKS; returns its claims. */
async function verifyLogout(received) {
  assert.match(received.type, /^application\/x-www-form-urlencoded\b/);
  const { payload, protectedHeader } = await jwtVerify(received.token, jwks, {
    issuer: usher.issuer,
    audience: client.client_id,
    typ: 'logout+jwt',
    algorithms: ['RS256'],
    maxTokenAge: '2 minutes',
  });
  assert.equal(protectedHeader.typ, 'logout+jwt');
  assert.deepEqual(payload.events, { [LOGOUT_EVENT]: {} });
  assert.equal(payload.nonce, undefined, 'a logout token never has a nonce');
  assert.equal(typeof payload.jti, 'string');
  assert.ok(payload.jti.length >= 16, payload.jti);
  assert.ok(Number.isInteger(payload.iat) && Number.isInteger(payload.exp), 'iat and exp');
  assert.ok(payload.exp > payload.iat && payload.exp - payload.iat <= 120, 'a short exp');
  assert.equal(typeof payload.sub, 'string');
  return payload;
}

/** Waits for `count` logout tokens about `sub`, verifies them, and returns their claims. */
async function logoutsOf(sub, count, what) {
  const found = await backchannel.waitFor((c) => c.sub === sub, count, what);
  const claims = [];
  for (const r of found) claims.push(await verifyLogout(r));
  assert.equal(new Set(claims.map((c) => c.jti)).size, claims.length, 'every logout token has its own jti');
  return claims;
}

describe('the account page, with an app told of logouts by back-channel', () => {
  test('"Sign out everywhere" in one browser ends the other, every refresh token, and the app gets a logout token per browser', async () => {
    const a = await newBrowser();
    const b = await newBrowser();
    const inA = await signInAtRp(a.page, 'alice');
    const inB = await signInAtRp(b.page, 'alice');
    assert.notEqual(inA.claims.sid, inB.claims.sid, 'two browsers, two sessions');
    // Both refresh tokens work before.
    const tokenA = await refreshes(inA.refreshToken, 'browser A before');
    const tokenB = await refreshes(inB.refreshToken, 'browser B before');

    await openAccount(a.page);
    assert.equal(await browserButtons(a.page).count(), 2, 'both browsers are listed');
    await ui.shoot(a.page, 'account-two-browsers');
    await check(a.page, 'account with two browsers');
    assert.equal(backchannel.matching((c) => c.sub === subs.get('alice')).length, 0, 'no logout yet');

    const status = await submit(a.page, 'alice',
      () => a.page.getByRole('button', { name: /^sign out everywhere\b/i }).click());
    assert.equal(status, 200);
    await a.page.getByRole('heading', { level: 1, name: /signed out/i }).waitFor();
    await check(a.page, 'signed out everywhere');

    await askedToSignIn(b.page, 'the other browser');
    await askedToSignIn(a.page, 'this browser');
    await refused(tokenB, 'the other browser\'s refresh token');
    await refused(tokenA, 'this browser\'s refresh token');

    const logouts = await logoutsOf(subs.get('alice'), 2, 'one per browser');
    assert.deepEqual(logouts.map((c) => c.sid).sort(), [inA.claims.sid, inB.claims.sid].sort());
    await a.context.close();
    await b.context.close();
  });

  test('"Sign out" of the other browser ends only that one, and the app is told of that one only', async () => {
    const c = await newBrowser();
    const d = await newBrowser();
    const inC = await signInAtRp(c.page, 'bob');
    const inD = await signInAtRp(d.page, 'bob');

    await openAccount(c.page);
    assert.equal(await browserButtons(c.page).count(), 2);
    const status = await submit(c.page, 'bob',
      () => c.page.getByRole('button', { name: /^sign out that browser\b/i }).click());
    assert.equal(status, 200);
    await c.page.getByRole('heading', { name: 'Your account', level: 1 }).waitFor();
    await c.page.getByRole('status').first().waitFor();
    assert.equal(await browserButtons(c.page).count(), 1, 'one browser is left');
    await c.page.getByRole('button', { name: /^sign out this browser\b/i }).waitFor();
    await check(c.page, 'account after signing another browser out');

    await askedToSignIn(d.page, 'the browser signed out');
    await openAccount(c.page);
    assert.equal(await browserButtons(c.page).count(), 1);
    // A logout keeps offline access (OpenID Connect Core §11): both refresh tokens work.
    await refreshes(inC.refreshToken, 'this browser\'s offline refresh token');
    await refreshes(inD.refreshToken, 'the browser signed out: its offline refresh token');

    const [told] = await logoutsOf(subs.get('bob'), 1, 'the browser signed out');
    assert.equal(told.sid, inD.claims.sid);
    assert.equal(told.sub, inC.claims.sub);

    // The delivery follows the queue's order: once this browser's own logout (queued
    // later) has arrived, any logout wrongly queued for it by the first sign-out has too.
    await submit(c.page, 'bob', () => c.page.getByRole('button', { name: /^sign out everywhere\b/i }).click());
    await c.page.getByRole('heading', { level: 1, name: /signed out/i }).waitFor();
    const all = await logoutsOf(subs.get('bob'), 2, 'then this browser');
    assert.deepEqual(all.map((l) => l.sid), [inD.claims.sid, inC.claims.sid], 'one logout per browser, in order');
    await c.context.close();
    await d.context.close();
  });

  test('a reused refresh token revokes its family and the app gets a logout token for that session', async () => {
    const { page, context } = await newBrowser();
    const { claims, refreshToken } = await signInAtRp(page, 'carol');
    const rotated = await refreshes(refreshToken, 'the first refresh');
    await refused(refreshToken, 'the rotated-away token presented again');
    await refused(rotated, 'the current token of the revoked family');

    const [told] = await logoutsOf(claims.sub, 1, 'the reused family');
    assert.equal(told.sid, claims.sid, 'the sid of the session the family came from');
    assert.equal(told.sub, claims.sub);
    await context.close();
  });

  test('"Remove access" ends the app\'s refresh token and the next sign-in asks for consent again', async () => {
    const { page, context } = await newBrowser();
    const first = await signInAtRp(page, 'dan');
    const token = await refreshes(first.refreshToken, 'before');

    await openAccount(page);
    const remove = page.getByRole('button', { name: /^remove access of shop\b/i });
    await remove.waitFor();
    await check(page, 'account with a connected app');
    assert.equal(await submit(page, 'dan', () => remove.click()), 200);
    await page.getByRole('status').first().waitFor();
    assert.equal(await remove.count(), 0, 'the app is no longer listed');
    await check(page, 'account after removing an app');

    await refused(token, 'the app\'s refresh token');
    // The browser is still signed in: the next sign-in goes straight to consent.
    await page.goto(`${rp.base}/login`);
    const allow = page.getByRole('button', { name: /allow/i });
    await allow.or(page.locator('#sub')).first().waitFor();
    assert.ok(await allow.isVisible(), 'consent is asked again');
    await check(page, 'consent after removing access');
    const again = await signInAtRp(page, 'dan');
    await refreshes(again.refreshToken, 'after consenting again');
    await context.close();
  });

  test('a password change needs the current password, signs the other browser out, and the old password stops working', async () => {
    const p = await newBrowser();
    const q = await newBrowser();
    await signInAtRp(p.page, 'erin');
    const inQ = await signInAtRp(q.page, 'erin');

    await openAccount(p.page);
    const change = (current) => async () => {
      await p.page.getByLabel('Current password').fill(current);
      await p.page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
      await p.page.getByLabel('New password again').fill(NEW_PASSWORD);
      await p.page.getByRole('button', { name: /^change password$/i }).click();
    };
    assert.equal(await submit(p.page, 'erin', change('not the password')), 401);
    await p.page.getByRole('alert').waitFor();
    assert.equal(await browserButtons(p.page).count(), 2, 'nothing changed');
    await check(p.page, 'account with a wrong current password');
    await openAccount(q.page);

    assert.equal(await submit(p.page, 'erin', change(PASSWORD)), 200);
    await p.page.getByRole('status').first().waitFor();
    assert.equal(await p.page.getByRole('alert').count(), 0);
    await check(p.page, 'account after a password change');
    assert.equal(await browserButtons(p.page).count(), 1, 'only this browser is left');
    await openAccount(p.page);
    await askedToSignIn(q.page, 'the other browser');
    const [told] = await logoutsOf(subs.get('erin'), 1, 'the other browser');
    assert.equal(told.sid, inQ.claims.sid);
    // Offline access is kept unless "also sign out my apps" is ticked.
    await refreshes(inQ.refreshToken, 'the other browser\'s offline refresh token');

    const fresh = await newBrowser();
    await fresh.page.goto(`${rp.base}/login`);
    await login(fresh.page, 'erin', PASSWORD);
    await alertText(fresh.page);
    assert.equal(new URL(fresh.page.url()).origin, new URL(usher.issuer).origin, 'the old password signs nobody in');
    await check(fresh.page, 'sign-in with the old password');
    await signInAtRp(fresh.page, 'erin', NEW_PASSWORD);
    await Promise.all([p, q, fresh].map((b) => b.context.close()));
  });
});
