// A small relying party, as an app developer would write one against Usher: the code flow
// with PKCE (S256), state and nonce, a client_secret_basic code exchange, and an ID token
// whose RS256 signature is checked against Usher's JWKS before its `sub` is shown. The
// last sign-in's tokens and verified ID token claims are kept for the tests to read.
// `scope` is what it asks for (default `openid profile email`).
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { createServer } from 'node:http';

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, status, title, body) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head><body><main><h1>${escape(title)}</h1>${body}</main></body></html>`);
}

async function verifyIdToken(issuer, clientId, nonce, idToken) {
  const [h, p, s] = idToken.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const claims = JSON.parse(Buffer.from(p, 'base64url'));
  if (header.alg !== 'RS256') throw new Error(`unexpected alg ${header.alg}`);
  const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
  const jwks = await (await fetch(discovery.jwks_uri)).json();
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  if (!jwk) throw new Error(`no key ${header.kid} in the JWKS`);
  const ok = verify('RSA-SHA256', Buffer.from(`${h}.${p}`), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url'));
  if (!ok) throw new Error('bad ID token signature');
  if (claims.iss !== issuer) throw new Error(`iss ${claims.iss}`);
  if (claims.aud !== clientId && !(Array.isArray(claims.aud) && claims.aud.includes(clientId))) throw new Error('aud');
  if (claims.nonce !== nonce) throw new Error('nonce');
  if (claims.exp * 1000 < Date.now()) throw new Error('expired');
  return claims;
}

export async function startRelyingParty({ issuer, clientId, clientSecret, scope = 'openid profile email' }) {
  const pending = new Map();
  let lastIdToken = null;
  let lastTokens = null;
  let lastClaims = null;
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const self = `http://127.0.0.1:${server.address().port}`;
    try {
      if (url.pathname === '/') {
        return page(res, 200, 'Shop', '<p><a href="/login">Sign in with Usher</a></p>');
      }
      if (url.pathname === '/login') {
        const state = b64url(randomBytes(16));
        const nonce = b64url(randomBytes(16));
        const verifier = b64url(randomBytes(32));
        const challenge = b64url(createHash('sha256').update(verifier).digest());
        pending.set(state, { nonce, verifier });
        const auth = new URL(`${issuer}/authorize`);
        for (const [k, v] of Object.entries({
          response_type: 'code', client_id: clientId, redirect_uri: `${self}/callback`,
          scope, state, nonce, code_challenge: challenge, code_challenge_method: 'S256',
        })) auth.searchParams.set(k, v);
        for (const passed of ['prompt', 'acr_values', 'max_age']) {
          if (url.searchParams.get(passed)) auth.searchParams.set(passed, url.searchParams.get(passed));
        }
        res.writeHead(302, { Location: auth.toString() });
        return res.end();
      }
      if (url.pathname === '/callback') {
        const state = url.searchParams.get('state');
        const flow = pending.get(state);
        pending.delete(state);
        if (!flow) return page(res, 400, 'Sign-in failed', '<p id="error">unknown state</p>');
        if (url.searchParams.get('iss') !== issuer) return page(res, 400, 'Sign-in failed', '<p id="error">wrong iss</p>');
        const error = url.searchParams.get('error');
        if (error) return page(res, 200, 'Sign-in failed', `<p id="error">${escape(error)}</p>`);
        const body = new URLSearchParams({
          grant_type: 'authorization_code', code: url.searchParams.get('code'),
          redirect_uri: `${self}/callback`, code_verifier: flow.verifier,
        });
        const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64');
        const tokenRes = await fetch(`${issuer}/token`, {
          method: 'POST', body, headers: { Authorization: `Basic ${basic}`, 'Content-Type': 'application/x-www-form-urlencoded' },
        });
        const tokens = await tokenRes.json();
        if (!tokenRes.ok) return page(res, 200, 'Sign-in failed', `<p id="error">${escape(tokens.error)}</p>`);
        const claims = await verifyIdToken(issuer, clientId, flow.nonce, tokens.id_token);
        lastIdToken = tokens.id_token;
        lastTokens = tokens;
        lastClaims = claims;
        return page(res, 200, 'Signed in', `<p>Signed in as <strong id="sub">${escape(claims.sub)}</strong> (${escape(claims.email ?? '')})</p>`);
      }
      if (url.pathname === '/logout') {
        const out = new URL(`${issuer}/logout`);
        out.searchParams.set('id_token_hint', lastIdToken ?? '');
        out.searchParams.set('post_logout_redirect_uri', `${self}/signed-out`);
        out.searchParams.set('state', 'bye');
        res.writeHead(302, { Location: out.toString() });
        return res.end();
      }
      if (url.pathname === '/signed-out') {
        return page(res, 200, 'Signed out', `<p id="state">${escape(url.searchParams.get('state') ?? '')}</p>`);
      }
      return page(res, 404, 'Not found', '');
    } catch (e) {
      return page(res, 500, 'Relying party error', `<pre>${escape(e.stack)}</pre>`);
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    get lastIdToken() { return lastIdToken; },
    get lastTokens() { return lastTokens; },
    get lastClaims() { return lastClaims; },
    close() { server.close(); },
  };
}
