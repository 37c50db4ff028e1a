// A browser app ("single-page app") as a developer would write one with oauth4webapi,
// served by a small static server on a loopback origin of its own: the page discovers
// Usher (RFC 8414 / OIDC discovery, fetched cross-origin), sends the person to
// /authorize with PKCE, and on /callback exchanges the code at /token as a public client
// and calls /userinfo — every one of those a cross-origin fetch from the page, which only
// Usher's CORS headers let it read. The page writes what happened into the document:
// #result (JSON) on success, #error otherwise (with the code and verifier, so that a
// test can show the code was not spent).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:http';

const require = createRequire(import.meta.url);
const OAUTH4WEBAPI = readFileSync(require.resolve('oauth4webapi'), 'utf8');

const SCRIPT = `
import * as oauth from '/oauth4webapi.js';
const config = JSON.parse(document.getElementById('config').textContent);
const out = (id, text) => {
  const p = document.createElement('p');
  p.id = id;
  p.textContent = text;
  document.querySelector('main').append(p);
};
// Usher runs on http://127.0.0.1 in the tests.
const options = { [oauth.allowInsecureRequests]: true };
async function run() {
  const issuer = new URL(config.issuer);
  const as = await oauth.processDiscoveryResponse(issuer,
    await oauth.discoveryRequest(issuer, { ...options, algorithm: config.algorithm }));
  const client = { client_id: config.clientId };
  const here = new URL(location.href);
  if (here.pathname !== '/callback') {
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    sessionStorage.setItem('verifier', verifier);
    sessionStorage.setItem('state', state);
    const url = new URL(as.authorization_endpoint);
    for (const [k, v] of Object.entries({
      client_id: client.client_id, redirect_uri: config.redirectUri, response_type: 'code',
      scope: 'openid profile', state, code_challenge_method: 'S256',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    })) url.searchParams.set(k, v);
    location.assign(url.href);
    return;
  }
  const verifier = sessionStorage.getItem('verifier');
  const params = oauth.validateAuthResponse(as, client, here, sessionStorage.getItem('state'));
  let response;
  try {
    response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params,
      config.redirectUri, verifier, options);
  } catch (e) {
    out('code', params.get('code'));
    out('verifier', verifier);
    out('error', 'token: ' + e.name + ': ' + e.message);
    return;
  }
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
  const claims = oauth.getValidatedIdTokenClaims(tokens);
  const info = await oauth.processUserInfoResponse(as, client, claims.sub,
    await oauth.userInfoRequest(as, client, tokens.access_token, options));
  const jwks = await (await fetch(as.jwks_uri)).json();
  out('result', JSON.stringify({ sub: info.sub, name: info.name, idTokenSub: claims.sub, keys: jwks.keys.length }));
}
run().catch((e) => out('error', e.name + ': ' + e.message));
`;

/** Starts the app's static server on 127.0.0.1 (a port of its own); `configure` gives the
 *  page its issuer, client id and redirect URI once the client is registered. */
export async function startSpa() {
  let config = null;
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/oauth4webapi.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' });
      return res.end(OAUTH4WEBAPI);
    }
    if (url.pathname === '/app.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' });
      return res.end(SCRIPT);
    }
    if (url.pathname === '/' || url.pathname === '/callback') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      const json = JSON.stringify(config).replace(/</g, '\\u003c');
      return res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Browser app</title>
<script type="application/json" id="config">${json}</script>
<script type="module" src="/app.js"></script></head><body><main><h1>Browser app</h1></main></body></html>`);
    }
    res.writeHead(404).end();
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    configure(c) {
      config = { algorithm: 'oidc', ...c }; // 'oauth2': RFC 8414 metadata
    },
    close: () => server.close(),
  };
}
