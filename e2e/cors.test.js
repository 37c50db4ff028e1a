// A browser app on another origin gets tokens from Usher (docs/design/cors.md): a page
// served from its own loopback origin uses oauth4webapi in Chromium to discover Usher
// (RFC 8414 metadata), run the code flow with PKCE as a public client and call /userinfo
// — each a cross-origin fetch that Usher's CORS headers allow. A page on an origin that is not the
// client's is refused at /token (the request is refused before the code is redeemed: the
// code still works afterwards).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { PASSWORD, launchBrowser, login } from './lib/browser.js';
import { startSpa } from './lib/spa.js';
import { startUsher } from './lib/usher.js';

let usher;
let app; // the client's own origin
let stranger; // another origin, with a redirect URI of the same client but not allowed
let ui;
let client;

before(async () => {
  usher = await startUsher();
  app = await startSpa();
  stranger = await startSpa();
  client = usher.cli(['client', 'create', '--json', '--name', 'Browser app', '--public',
    '--redirect-uri', `${app.origin}/callback`, '--redirect-uri', `${stranger.origin}/callback`,
    '--allowed-origin', app.origin, '--scope', 'openid profile']);
  usher.cli(['user', 'create', '--json', '--username', 'alice', '--name', 'Alice Liddell', '--password-stdin'],
    `${PASSWORD}\n`);
  // The app discovers Usher through RFC 8414 metadata, the stranger through OIDC discovery.
  app.configure({ issuer: usher.issuer, clientId: client.client_id, redirectUri: `${app.origin}/callback`, algorithm: 'oauth2' });
  stranger.configure({ issuer: usher.issuer, clientId: client.client_id, redirectUri: `${stranger.origin}/callback` });
  ui = await launchBrowser('cors-blank');
});

after(async () => {
  await ui?.close();
  app?.close();
  stranger?.close();
  usher?.stop();
});

/** Opens the app at `origin`, signs Alice in and allows; returns the page back at the
 *  app's callback once it wrote #result or #error. */
async function signInThrough(origin) {
  const context = await ui.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${origin}/`);
  await page.waitForURL(new RegExp(`^${usher.base}/authorize`));
  await login(page, 'alice');
  // A public client's sign-in always shows the consent page.
  await page.getByRole('button', { name: /allow/i }).click();
  await page.waitForURL(new RegExp(`^${origin}/callback`));
  await page.locator('#result, #error').first().waitFor();
  return { context, page };
}

describe('a browser app on another origin', () => {
  test('runs the code flow with PKCE and calls userinfo with oauth4webapi', async () => {
    const { context, page } = await signInThrough(app.origin);
    const error = await page.locator('#error').count() ? await page.locator('#error').innerText() : null;
    assert.equal(error, null);
    const result = JSON.parse(await page.locator('#result').innerText());
    assert.equal(result.name, 'Alice Liddell');
    assert.equal(result.sub, result.idTokenSub);
    assert.ok(result.keys >= 1, 'the JWKS was read cross-origin');
    await context.close();
  });

  test('is refused at /token from an origin that is not the client\'s, and the code is not spent', async () => {
    const { context, page } = await signInThrough(stranger.origin);
    assert.equal(await page.locator('#result').count(), 0, 'no tokens reached the page');
    // No CORS headers on the refusal: the browser does not let the page read it.
    assert.match(await page.locator('#error').innerText(), /^token: TypeError: Failed to fetch/);
    const code = await page.locator('#code').innerText();
    const verifier = await page.locator('#verifier').innerText();
    // The refusal came before the code was redeemed: it still works (here without a
    // browser, so without Origin).
    const response = await fetch(`${usher.base}/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code', code, code_verifier: verifier,
        redirect_uri: `${stranger.origin}/callback`, client_id: client.client_id,
      }),
    });
    assert.equal(response.status, 200, await response.clone().text());
    assert.ok((await response.json()).access_token);
    await context.close();
  });
});
