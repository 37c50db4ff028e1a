// Usher as the authorization server of an MCP server (issue 16, "MCP"): the official MCP
// TypeScript SDK on both sides (e2e/lib/mcp.js). The SDK's client, with an
// OAuthClientProvider that signs Alice in through Usher's pages in Chromium, finds Usher
// by itself — the MCP server's 401 names its RFC 9728 metadata, which names Usher, whose
// RFC 8414 metadata it reads — gets a client id (pre-registered, registered by RFC 7591,
// or its metadata document's URL), asks with PKCE and RFC 8707 `resource` for a token
// whose `aud` is the MCP server's URL, calls a tool, and refreshes when the MCP server
// finds its token too old. The MCP server checks every token against Usher's JWKS with
// jose (signature, `iss`, `aud` = its URL, `typ` at+jwt, scope).
//
// Cases waiting for other branches are marked WAITING below: set the entry to `false`
// once the branch is merged (and count its tests in crates/usher/tests/it/browser.rs).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { PASSWORD, launchBrowser } from './lib/browser.js';
import { BrowserProvider, connect, recordingFetch, startMcpServer, startRedirectTarget, whoami } from './lib/mcp.js';
import { startUsher } from './lib/usher.js';

const WAITING = {
  // RFC 7591 dynamic registration at POST /register, `registration = "open"`.
  dcr: false,
  // Client ID Metadata Documents, `client_metadata_documents = true`.
  cimd: false,
};

const SCOPE = 'mcp:tools';
// The MCP servers refuse tokens older than this (jose's maxTokenAge, on `iat`): the
// refresh tests wait it out and the SDK refreshes on the 401 as it would on expiry.
const MAX_TOKEN_AGE_S = 3;

let ui;
let redirect;

before(async () => {
  ui = await launchBrowser('mcp-blank');
  redirect = await startRedirectTarget();
});

after(async () => {
  await ui?.close();
  redirect?.close();
});

/** Usher (with `env`), two MCP servers registered as resources — `tools` (scope
 *  mcp:tools, the one the tests talk to) and `notes` (scope notes:read, another API) —
 *  and Alice. */
async function startWorld(env = {}) {
  const usher = await startUsher(env);
  const tools = await startMcpServer({ issuer: usher.issuer, scope: SCOPE, maxTokenAge: `${MAX_TOKEN_AGE_S}s` });
  const notes = await startMcpServer({ issuer: usher.issuer, scope: 'notes:read', name: 'Notes' });
  usher.cli(['resource', 'create', '--json', '--uri', tools.url.href, '--scope', SCOPE, '--name', 'Tools']);
  usher.cli(['resource', 'create', '--json', '--uri', notes.url.href, '--scope', 'notes:read', '--name', 'Notes']);
  usher.cli(['user', 'create', '--json', '--username', 'alice', '--name', 'Alice Liddell', '--password-stdin'], `${PASSWORD}\n`);
  const metadata = await (await fetch(`${usher.issuer}/.well-known/oauth-authorization-server`)).json();
  return {
    usher, tools, notes, metadata,
    async stop() { await tools.close(); await notes.close(); usher.stop(); },
  };
}

const provider = (world, options = {}) => new BrowserProvider({
  ui, issuer: world.usher.issuer, redirectUrl: redirect.url, person: 'alice', ...options,
});

/** What every successful run shows: the SDK discovered Usher through the MCP server,
 *  sent Alice to Usher's authorization endpoint with PKCE and `resource`, redeemed the
 *  code with `resource`, and the token reached the tool with `aud` = the server's URL. */
async function assertSignedInAndCalled(world, server, client, p, fetch, clientId) {
  const prm = fetch.to(new URL('/.well-known/oauth-protected-resource/mcp', server.url));
  assert.equal(prm.at(-1)?.status, 200, 'the RFC 9728 metadata was read');
  assert.deepEqual(prm.at(-1).received.authorization_servers, [world.usher.issuer]);
  const asMetadata = fetch.to(new URL('/.well-known/oauth-authorization-server', world.usher.issuer));
  assert.equal(asMetadata.at(-1)?.status, 200, 'Usher\'s RFC 8414 metadata was read');

  assert.equal(p.authorizationUrls.length, 1);
  const authorize = p.authorizationUrls[0];
  assert.equal(authorize.origin + authorize.pathname, world.metadata.authorization_endpoint);
  assert.equal(authorize.searchParams.get('client_id'), clientId);
  assert.equal(authorize.searchParams.get('resource'), server.url.href);
  assert.equal(authorize.searchParams.get('scope'), SCOPE);
  assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');

  const [exchange] = fetch.tokenRequests().filter((r) => r.form.get('grant_type') === 'authorization_code');
  assert.equal(exchange.status, 200, JSON.stringify(exchange.received));
  assert.equal(exchange.form.get('resource'), server.url.href);
  assert.ok(exchange.received.refresh_token, 'a refresh token came with the code exchange');

  const seen = await whoami(client);
  assert.equal(seen.aud, server.url.href);
  assert.equal(seen.client_id, clientId);
  assert.deepEqual(seen.scopes, [SCOPE]);
  assert.match(seen.sub, /^[0-9a-f-]{36}$/);
  return seen;
}

/** Waits until the server would find the token too old; the next tool call gets a 401,
 *  the SDK refreshes (with `resource`) and calls again with the new token. */
async function assertRefreshes(server, client, p, fetch, first) {
  const before = fetch.tokenRequests().length;
  const old = p.tokens();
  const refused = server.refusals.length;
  await sleep((MAX_TOKEN_AGE_S + 1.5) * 1000);
  const seen = await whoami(client);
  assert.equal(seen.sub, first.sub);
  assert.equal(seen.aud, server.url.href);
  assert.ok(server.refusals.length > refused, 'the server refused the old token');
  assert.equal(server.refusals.at(-1), 'ERR_JWT_EXPIRED:iat', 'too old for the server (maxTokenAge)');
  const refreshes = fetch.tokenRequests().slice(before).filter((r) => r.form.get('grant_type') === 'refresh_token');
  assert.ok(refreshes.length >= 1, 'the SDK refreshed');
  assert.equal(refreshes[0].status, 200, JSON.stringify(refreshes[0].received));
  assert.equal(refreshes[0].form.get('resource'), server.url.href);
  assert.notEqual(p.tokens().access_token, old.access_token);
  assert.notEqual(p.tokens().refresh_token, old.refresh_token, 'the refresh token rotated');
  assert.equal(server.calls.at(-1).token, p.tokens().access_token, 'the tool saw the new token');
}

describe('an MCP client with a client registered by the operator', () => {
  let world;
  let client; // from `usher client create`

  before(async () => {
    world = await startWorld();
    client = world.usher.cli(['client', 'create', '--json', '--name', 'MCP client', '--public',
      '--redirect-uri', 'http://127.0.0.1/callback', '--grant-type', 'authorization_code', '--grant-type', 'refresh_token',
      '--scope', `${SCOPE} notes:read`]);
  });

  after(async () => { await world?.stop(); });

  test('discovers Usher, signs in, calls a tool and refreshes', async () => {
    const fetch = recordingFetch();
    const p = provider(world, { clientInformation: { client_id: client.client_id } });
    const mcp = await connect(world.tools.url, p, fetch);
    const first = await assertSignedInAndCalled(world, world.tools, mcp, p, fetch, client.client_id);
    assert.equal(fetch.to('/register').length, 0, 'a registered client does not register');
    await assertRefreshes(world.tools, mcp, p, fetch, first);
    await mcp.close();
  });

  test('a token for another MCP server is refused, and the SDK cannot widen its refresh to this one', async () => {
    const fetch = recordingFetch();
    const p = provider(world, { clientInformation: { client_id: client.client_id } });
    const notes = await connect(world.notes.url, p, fetch);
    const seen = await whoami(notes);
    assert.equal(seen.aud, world.notes.url.href);
    await notes.close();

    // The same client, with its token for `notes`, at `tools`.
    const refused = world.tools.refusals.length;
    await assert.rejects(connect(world.tools.url, p, fetch), (e) => {
      // The SDK tried a refresh for `tools`, which the grant (for `notes`) never held.
      assert.equal(e.constructor.name, 'InvalidTargetError', String(e));
      return true;
    });
    assert.equal(world.tools.refusals[refused], 'ERR_JWT_CLAIM_VALIDATION_FAILED:aud');
    const widen = fetch.tokenRequests().filter((r) => r.form.get('grant_type') === 'refresh_token').at(-1);
    assert.equal(widen.form.get('resource'), world.tools.url.href);
    assert.equal(widen.status, 400);
    assert.equal(widen.received.error, 'invalid_target');
    assert.equal(p.authorizationUrls.length, 1, 'the SDK did not start a new sign-in');
  });

  test('with registration off, a client without a client id is told the server does not register clients', async () => {
    assert.equal(world.metadata.registration_endpoint, undefined);
    const fetch = recordingFetch();
    const p = provider(world);
    await assert.rejects(connect(world.tools.url, p, fetch), /does not support dynamic client registration/);
    assert.equal(fetch.to('/register').length, 0);
    assert.equal(p.authorizationUrls.length, 0);
  });
});

describe('an MCP client registering itself (RFC 7591)', { skip: WAITING.dcr }, () => {
  let world;

  before(async () => {
    world = await startWorld({ USHER_REGISTRATION: 'open' });
  });

  after(async () => { await world?.stop(); });

  test('registers, signs in, calls a tool and refreshes', async () => {
    assert.equal(world.metadata.registration_endpoint, `${world.usher.issuer}/register`);
    const fetch = recordingFetch();
    const p = provider(world);
    const mcp = await connect(world.tools.url, p, fetch);
    const [registration] = fetch.to('/register');
    assert.equal(registration.status, 201, JSON.stringify(registration.received));
    const sent = JSON.parse(registration.sent);
    assert.deepEqual(sent.redirect_uris, [redirect.url]);
    assert.equal(sent.token_endpoint_auth_method, 'none');
    assert.equal(sent.scope, SCOPE, 'the SDK registers the scopes of the RFC 9728 metadata');
    const clientId = registration.received.client_id;
    assert.equal(p.clientInformation().client_id, clientId);
    const first = await assertSignedInAndCalled(world, world.tools, mcp, p, fetch, clientId);
    await assertRefreshes(world.tools, mcp, p, fetch, first);
    await mcp.close();
  });

  test('a registration with a redirect URI that is neither https, loopback nor private-use is refused', async () => {
    const fetch = recordingFetch();
    const p = provider(world, { clientMetadata: { redirect_uris: ['http://evil.example/cb'] } });
    await assert.rejects(connect(world.tools.url, p, fetch));
    const [registration] = fetch.to('/register');
    assert.equal(registration.status, 400);
    assert.equal(registration.received.error, 'invalid_redirect_uri');
    assert.equal(p.clientInformation(), undefined, 'nothing was registered');
    assert.equal(p.authorizationUrls.length, 0);
  });

  test('a registration asking for a grant open registration does not allow is refused', async () => {
    const fetch = recordingFetch();
    const p = provider(world, { clientMetadata: { grant_types: ['client_credentials'] } });
    await assert.rejects(connect(world.tools.url, p, fetch));
    const [registration] = fetch.to('/register');
    assert.equal(registration.status, 400);
    assert.equal(registration.received.error, 'invalid_client_metadata');
    assert.equal(p.clientInformation(), undefined);
  });
});

describe('an MCP client without an initial access token, with registration = "token"', { skip: WAITING.dcr }, () => {
  let world;

  before(async () => {
    world = await startWorld({ USHER_REGISTRATION: 'token' });
  });

  after(async () => { await world?.stop(); });

  test('is refused at /register with invalid_token, and nothing is registered', async () => {
    assert.equal(world.metadata.registration_endpoint, `${world.usher.issuer}/register`);
    const fetch = recordingFetch();
    const p = provider(world);
    await assert.rejects(connect(world.tools.url, p, fetch), (e) => {
      assert.equal(e.constructor.name, 'InvalidTokenError', String(e));
      return true;
    });
    const [registration] = fetch.to('/register');
    assert.equal(registration.status, 401);
    assert.equal(registration.received.error, 'invalid_token');
    assert.equal(p.clientInformation(), undefined);
    assert.equal(p.authorizationUrls.length, 0);
  });
});

describe('an MCP client identified by its metadata document', { skip: WAITING.cimd }, () => {
  let world;
  let documents; // serves the client's metadata document on loopback
  let fetched = 0;
  let documentUrl;

  before(async () => {
    world = await startWorld({ USHER_CLIENT_METADATA_DOCUMENTS: 'true' });
    documents = createServer((req, res) => {
      if (req.url !== '/client.json' && req.url !== '/impostor.json') { res.writeHead(404).end(); return; }
      fetched += 1;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      // The impostor's document claims the genuine client's id (and redirect URIs).
      res.end(JSON.stringify({
        client_id: documentUrl, client_name: 'Usher e2e MCP client (metadata document)',
        redirect_uris: [redirect.url], grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'], token_endpoint_auth_method: 'none',
      }));
    });
    await new Promise((ok) => documents.listen(0, '127.0.0.1', ok));
    documentUrl = `http://127.0.0.1:${documents.address().port}/client.json`;
  });

  after(async () => {
    documents?.close();
    await world?.stop();
  });

  test('signs in with its document\'s URL as client id, calls a tool and refreshes', async () => {
    assert.equal(world.metadata.client_id_metadata_document_supported, true);
    const fetch = recordingFetch();
    // The SDK's own switch (`clientMetadataUrl`) takes only https URLs, and Usher's
    // guarded client trusts only the public roots: on loopback the document is served
    // over http (which Usher allows when its issuer is on loopback), and the provider
    // hands the SDK the document's URL as its client id — exactly what the SDK does
    // itself with `clientMetadataUrl` when the metadata says
    // client_id_metadata_document_supported.
    const p = provider(world, { clientInformation: { client_id: documentUrl } });
    const mcp = await connect(world.tools.url, p, fetch);
    assert.equal(fetch.to('/register').length, 0);
    assert.ok(fetched >= 1, 'Usher fetched the document');
    const first = await assertSignedInAndCalled(world, world.tools, mcp, p, fetch, documentUrl);
    await assertRefreshes(world.tools, mcp, p, fetch, first);
    await mcp.close();
  });

  test('a document whose client_id is not its own URL is refused on Usher\'s error page, never redirected', async () => {
    const impostorUrl = documentUrl.replace('/client.json', '/impostor.json');
    const fetch = recordingFetch();
    const p = provider(world, { clientInformation: { client_id: impostorUrl } });
    await assert.rejects(connect(world.tools.url, p, fetch), /refused the authorization request \(400\)/);
    assert.equal(p.refused.status, 400);
    assert.match(p.refused.text, /metadata document/i);
    assert.equal(p.code, undefined);
    assert.equal(fetch.tokenRequests().length, 0);
  });
});
