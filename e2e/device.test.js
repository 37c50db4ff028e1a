// The device authorization grant (RFC 8628) with a client library nobody here wrote:
// openid-client's initiateDeviceAuthorization and pollDeviceAuthorizationGrant play the
// TV or the CLI, polling Usher's token endpoint, while headless Chromium plays the
// person: opens the verification page, types the code, signs in, reads the
// anti-phishing confirmation and approves (or denies). Then expiry, with a server whose
// device codes live ten seconds. The pages are screenshotted and audited with axe-core,
// one run with JavaScript disabled.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import * as client from 'openid-client';

import { PASSWORD, audit, launchBrowser, login } from './lib/browser.js';
import { startUsher } from './lib/usher.js';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

let usher;
let shortLived;
let ui;

/** A public device client on `server`, and openid-client's configuration for it. */
async function deviceClient(server, name) {
  const created = await server.cliAsync(['client', 'create', '--json', '--name', name, '--public',
    '--grant-type', DEVICE_GRANT, '--grant-type', 'refresh_token', '--scope', 'openid profile offline_access']);
  const config = await client.discovery(new URL(server.issuer), created.client_id, undefined, client.None(),
    { execute: [client.allowInsecureRequests] });
  return config;
}

before(async () => {
  // One-second polling keeps the test quick; the device still has to keep the interval.
  usher = await startUsher({ USHER_DEVICE__INTERVAL: '1' });
  shortLived = await startUsher({ USHER_DEVICE__INTERVAL: '1', USHER_DEVICE__CODE_TTL: '10' });
  for (const server of [usher, shortLived]) {
    await server.cliAsync(['user', 'create', '--json', '--username', 'alice', '--password-stdin'], `${PASSWORD}\n`);
  }
  ui = await launchBrowser('device-blank');
});

after(async () => {
  await ui?.close();
  usher?.stop();
  shortLived?.stop();
});

/** The person's side: opens `url` in a fresh context, types `typed` if the form is empty,
 *  signs in, and returns the page showing the confirmation. */
async function reachConfirmation(context, url, typed) {
  const page = await context.newPage();
  await page.goto(url);
  await ui.shoot(page, 'device-entry');
  if (typed) await page.getByLabel('Code').fill(typed);
  await page.getByRole('button', { name: /continue/i }).click();
  await page.getByLabel('Username').waitFor();
  await login(page, 'alice', PASSWORD);
  await page.getByRole('button', { name: /approve/i }).waitFor();
  return page;
}

describe('the device grant with openid-client and Chromium', () => {
  test('a device polls while a person types the code, signs in and approves', async () => {
    const config = await deviceClient(usher, 'Living-room TV');
    assert.equal(config.serverMetadata().device_authorization_endpoint, `${usher.issuer}/device_authorization`);
    const started = await client.initiateDeviceAuthorization(config, { scope: 'openid profile offline_access' });
    assert.match(started.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    assert.equal(started.verification_uri, `${usher.issuer}/device`);
    // The device polls from now on (authorization_pending until the person approves).
    const polling = client.pollDeviceAuthorizationGrant(config, started, undefined, { signal: AbortSignal.timeout(60_000) });

    const context = await ui.browser.newContext({ bypassCSP: true });
    // Typed in lower case, without the dash.
    const page = await reachConfirmation(context, started.verification_uri, started.user_code.replace('-', '').toLowerCase());
    const warning = await page.locator('#device-warning').innerText();
    assert.match(warning, /Only continue if you started this yourself/);
    assert.ok(warning.includes(started.user_code), warning);
    assert.match(await page.locator('h1').innerText(), /Living-room TV/);
    await ui.shoot(page, 'device-confirm');
    await audit(page, 'device confirmation');
    await page.getByRole('button', { name: /approve/i }).click();
    await page.getByRole('heading', { name: /device connected/i }).waitFor();
    await ui.shoot(page, 'device-connected');

    const tokens = await polling;
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.ok(tokens.refresh_token, 'offline_access: a refresh token');
    const claims = tokens.claims();
    assert.ok(claims.sub, 'openid-client verified an ID token');
    assert.ok([].concat(claims.aud).includes(config.clientMetadata().client_id));
    // The device code is spent: the same authorization polled again is refused.
    await assert.rejects(client.pollDeviceAuthorizationGrant(config, started), (e) => e.error === 'invalid_grant');
    await context.close();
  });

  test('verification_uri_complete fills the code in and still asks; denying is access_denied (no JavaScript)', async () => {
    const config = await deviceClient(usher, 'Console');
    const started = await client.initiateDeviceAuthorization(config, { scope: 'openid' });
    const polling = client.pollDeviceAuthorizationGrant(config, started, undefined, { signal: AbortSignal.timeout(60_000) });
    // The denial may reach the poller before the assertion below awaits it: handled now,
    // so that Node does not report an unhandled rejection (the assertion still reads it).
    polling.catch(() => {});
    // The code form, prefilled, audited (axe-core needs JavaScript: its own context).
    const audited = await ui.browser.newContext({ bypassCSP: true });
    const entry = await audited.newPage();
    await entry.goto(started.verification_uri_complete);
    assert.equal(await entry.getByLabel('Code').inputValue(), started.user_code);
    await audit(entry, 'device code entry');
    await audited.close();
    // The person's browser, with JavaScript off.
    const context = await ui.browser.newContext({ javaScriptEnabled: false });
    const page = await reachConfirmation(context, started.verification_uri_complete, null);
    assert.ok((await page.locator('#device-code').innerText()).includes(started.user_code));
    await page.getByRole('button', { name: /deny/i }).click();
    await page.getByRole('heading', { name: /request denied/i }).waitFor();
    await ui.shoot(page, 'device-denied');
    await assert.rejects(polling, (e) => e.error === 'access_denied');
    await context.close();
  });

  test('nobody approves: the device is told expired_token', async () => {
    const config = await deviceClient(shortLived, 'Set-top box');
    const started = await client.initiateDeviceAuthorization(config, { scope: 'openid' });
    assert.equal(started.expires_in, 10);
    // Poll past the code's life (the library would otherwise stop at expires_in itself).
    const signal = AbortSignal.timeout(30_000);
    await assert.rejects(client.pollDeviceAuthorizationGrant(config, started, undefined, { signal }),
      (e) => e.error === 'expired_token');
    // The page now refuses the code.
    const context = await ui.browser.newContext({ bypassCSP: true });
    const page = await context.newPage();
    await page.goto(started.verification_uri_complete);
    await page.getByRole('button', { name: /continue/i }).click();
    assert.match(await page.getByRole('alert').innerText(), /not valid/);
    await audit(page, 'device code refused');
    await context.close();
  });
});
