// The two sides of the Model Context Protocol's authorization, both written with the
// official MCP TypeScript SDK (`@modelcontextprotocol/sdk`) as its documentation and
// examples show, with Usher as the authorization server (docs/design/resources.md):
//
// - `startMcpServer`: a small MCP server (Streamable HTTP, stateless, one tool `whoami`)
//   behind the SDK's `requireBearerAuth`, whose verifier checks Usher's JWT access
//   tokens with jose against Usher's JWKS: signature, `iss`, `aud` equal to this server's
//   URL, expiry, and — a policy of this server — a largest token age, so that a test can
//   make a token too old in seconds and watch the client refresh. It serves its RFC 9728
//   protected resource metadata (the SDK's `mcpAuthMetadataRouter`) naming Usher.
// - `BrowserProvider`: the SDK's `OAuthClientProvider` for a client that sends the person
//   to Usher in headless Chromium: `redirectToAuthorization` signs in on Usher's pages,
//   allows on the consent page and reads the code at a loopback redirect URI (a small
//   server of its own, RFC 8252); `connect` is the SDK's documented sequence (connect,
//   UnauthorizedError, `transport.finishAuth(code)`, connect again).
//
// Every HTTP request the SDK client makes goes through `recordingFetch`, which only
// records (method, URL, form or JSON body, status, response body) so that the tests can
// say which discovery, registration and token requests the SDK made on its own.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { getOAuthProtectedResourceMetadataUrl, mcpAuthMetadataRouter } from '@modelcontextprotocol/sdk/server/auth/router.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createRemoteJWKSet, jwtVerify } from 'jose';

import { login } from './browser.js';

/** Starts an MCP server on a loopback port; its URL (`url`, the `resource` clients ask
 *  Usher for and the `aud` it accepts) is `http://127.0.0.1:<port>/mcp`. */
export async function startMcpServer({ issuer, scope, name = 'Usher e2e MCP server', maxTokenAge = '1h' }) {
  const metadata = await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json();
  const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri));
  const app = createMcpExpressApp();
  const http = createServer(app);
  await new Promise((ok) => http.listen(0, '127.0.0.1', ok));
  const url = new URL(`http://127.0.0.1:${http.address().port}/mcp`);
  const refusals = []; // why the verifier refused a token (jose's error code[:claim]), in order
  const verifier = {
    async verifyAccessToken(token) {
      try {
        const { payload } = await jwtVerify(token, jwks, {
          issuer, audience: url.href, maxTokenAge, typ: 'at+jwt', requiredClaims: ['exp', 'iat', 'sub'],
        });
        return {
          token,
          clientId: payload.client_id,
          scopes: typeof payload.scope === 'string' ? payload.scope.split(' ') : [],
          expiresAt: payload.exp,
          resource: url, // jwtVerify checked that `aud` names this server
          extra: { sub: payload.sub, aud: payload.aud },
        };
      } catch (e) {
        const why = e.claim ? `${e.code}:${e.claim}` : (e.code ?? e.name);
        refusals.push(why);
        throw new InvalidTokenError(`the token was refused: ${why}`);
      }
    },
  };
  app.use(mcpAuthMetadataRouter({ oauthMetadata: metadata, resourceServerUrl: url, scopesSupported: scope.split(' '), resourceName: name }));
  const bearer = requireBearerAuth({
    verifier, requiredScopes: scope.split(' '), expectedResource: url,
    resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(url),
  });
  const calls = []; // what `whoami` saw, per call
  app.post('/mcp', bearer, async (req, res) => {
    const server = new McpServer({ name, version: '1.0.0' });
    server.registerTool('whoami', { description: 'Who the access token speaks for' }, async (extra) => {
      const seen = { sub: extra.authInfo.extra.sub, client_id: extra.authInfo.clientId, scopes: extra.authInfo.scopes, aud: extra.authInfo.extra.aud, token: extra.authInfo.token };
      calls.push(seen);
      const { token: _, ...shown } = seen;
      return { content: [{ type: 'text', text: JSON.stringify(shown) }] };
    });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => { transport.close(); server.close(); });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  // Stateless: no standalone SSE stream, no session to end.
  const notAllowed = (_req, res) => res.status(405).set('Allow', 'POST').end();
  app.get('/mcp', bearer, notAllowed);
  app.delete('/mcp', bearer, notAllowed);
  return {
    url,
    refusals,
    calls,
    close: () => new Promise((ok) => { http.closeAllConnections(); http.close(ok); }),
  };
}

/** A `fetch` that records every exchange; the SDK client's only way to the network. */
export function recordingFetch() {
  const log = [];
  const recorder = async (input, init = {}) => {
    const request = new Request(input, init);
    const sent = init.body === undefined || init.body === null ? undefined : String(init.body);
    const response = await fetch(request);
    const entry = { method: request.method, url: new URL(request.url), status: response.status, sent };
    const type = response.headers.get('content-type') ?? '';
    if (type.startsWith('application/json')) entry.received = await response.clone().json().catch(() => undefined);
    entry.wwwAuthenticate = response.headers.get('www-authenticate');
    log.push(entry);
    return response;
  };
  recorder.log = log;
  /** The exchanges with `url`'s path (and origin, when given as a URL). */
  recorder.to = (where) => log.filter((e) => (typeof where === 'string'
    ? e.url.pathname === where : e.url.origin === where.origin && e.url.pathname === where.pathname));
  /** The form parameters of the exchanges with a token endpoint path. */
  recorder.tokenRequests = (path = '/token') => recorder.to(path).map((e) => ({ ...e, form: new URLSearchParams(e.sent) }));
  return recorder;
}

/** A loopback redirect URI (RFC 8252 §7.3): a server that only answers the browser. */
export async function startRedirectTarget() {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html lang="en"><title>Back in the app</title><main><h1>You may close this page</h1></main></html>');
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${server.address().port}/callback`, close: () => server.close() };
}

/** The SDK's `OAuthClientProvider`, keeping everything in memory, signing `person` in
 *  through Usher's pages in Chromium when the SDK sends it to the authorization endpoint. */
export class BrowserProvider {
  constructor({ ui, issuer, redirectUrl, person, clientMetadata = {}, clientInformation, clientMetadataUrl }) {
    this.ui = ui;
    this.issuer = issuer;
    this._redirectUrl = redirectUrl;
    this.person = person;
    this._clientMetadata = {
      client_name: 'Usher e2e MCP client', redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
      token_endpoint_auth_method: 'none', ...clientMetadata,
    };
    this._client = clientInformation;
    if (clientMetadataUrl) this.clientMetadataUrl = clientMetadataUrl;
    this._tokens = undefined;
    this._verifier = undefined;
    this._state = undefined;
    this.code = undefined;
    this.refused = undefined; // Usher's error page, when it showed one instead of signing in
    this.authorizationUrls = []; // every URL the SDK sent the person to
    this.saved = []; // every client information the SDK saved (registrations)
  }

  get redirectUrl() { return this._redirectUrl; }
  get clientMetadata() { return this._clientMetadata; }
  state() { this._state = randomBytes(16).toString('base64url'); return this._state; }
  clientInformation() { return this._client; }
  saveClientInformation(info) { this._client = info; this.saved.push(info); }
  tokens() { return this._tokens; }
  saveTokens(tokens) { this._tokens = tokens; }
  saveCodeVerifier(verifier) { this._verifier = verifier; }
  codeVerifier() { return this._verifier; }

  async redirectToAuthorization(authorizationUrl) {
    this.authorizationUrls.push(new URL(authorizationUrl));
    const context = await this.ui.browser.newContext();
    try {
      const page = await context.newPage();
      const response = await page.goto(authorizationUrl.toString());
      if (response.status() >= 400) {
        // Usher refused the request on its own error page (it never redirects an error
        // to a redirect URI it cannot trust).
        this.refused = { status: response.status(), text: await page.locator('main').innerText() };
        return;
      }
      await login(page, this.person);
      // Clients of MCP servers are public clients: Usher always asks the person.
      await page.getByRole('button', { name: /allow/i }).click();
      await page.waitForURL((u) => u.href.startsWith(this._redirectUrl));
      const back = new URL(page.url());
      assert.equal(back.searchParams.get('state'), this._state, 'the state came back');
      assert.equal(back.searchParams.get('iss'), this.issuer, 'RFC 9207 iss');
      assert.equal(back.searchParams.get('error'), null, `authorization error: ${back.searchParams.get('error_description')}`);
      this.code = back.searchParams.get('code');
    } finally {
      await context.close();
    }
  }
}

/** The SDK's documented way to connect with OAuth: the first connect ends in
 *  UnauthorizedError after `redirectToAuthorization`; `finishAuth` exchanges the code; a
 *  new transport connects with the token. Returns the connected client. */
export async function connect(url, provider, fetch) {
  const open = async () => {
    const transport = new StreamableHTTPClientTransport(url, { authProvider: provider, fetch });
    const client = new Client({ name: 'usher-e2e', version: '1.0.0' });
    await client.connect(transport);
    return { client, transport };
  };
  try {
    return (await open()).client;
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
  }
  if (provider.refused) throw new Error(`Usher refused the authorization request (${provider.refused.status}): ${provider.refused.text}`);
  const transport = new StreamableHTTPClientTransport(url, { authProvider: provider, fetch });
  await transport.finishAuth(provider.code);
  return (await open()).client;
}

/** Calls `whoami`; returns what the server saw. */
export async function whoami(client) {
  const result = await client.callTool({ name: 'whoami', arguments: {} });
  assert.notEqual(result.isError, true, JSON.stringify(result));
  return JSON.parse(result.content[0].text);
}
