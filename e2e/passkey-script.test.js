// The passkey page script (assets/passkey.js) against its documented contract, without a
// browser: the script runs in a fresh V8 context whose `document`, forms and
// `navigator.credentials` are stand-ins that record what the script asks for. The real
// WebAuthn ceremonies are tested in Rust (usher-core/src/passkeys/tests.rs) and, in
// Chromium with its virtual authenticator, in passkeys.test.js.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import vm from 'node:vm';

const SOURCE = readFileSync(new URL('../assets/passkey.js', import.meta.url), 'utf8');

const bytes = (buffer) => [...new Uint8Array(buffer)];
const buf = (list) => new Uint8Array(list).buffer;
const tick = () => new Promise((resolve) => setTimeout(resolve, 10));

function domError(name) {
  const e = new Error(name);
  e.name = name;
  return e;
}

function form(attrs) {
  const handlers = {};
  const status = {
    attrs: { 'data-passkey-error-text': 'Try again' },
    textContent: '',
    setAttribute(k, v) { this.attrs[k] = v; },
    getAttribute(k) { return this.attrs[k] ?? null; },
  };
  return {
    attrs,
    hidden: true,
    submitted: 0,
    status,
    elements: { ceremony: { value: 'ceremony-inline' }, credential: { value: '' } },
    getAttribute(k) { return k in this.attrs ? this.attrs[k] : null; },
    setAttribute(k, v) { this.attrs[k] = v; },
    removeAttribute(k) { delete this.attrs[k]; },
    addEventListener(event, handler) { handlers[event] = handler; },
    fire(event) { handlers[event]({ preventDefault() {} }); },
    submit() { this.submitted += 1; },
    querySelector() { return status; },
  };
}

// Runs the script on a page with `forms`; returns the calls to navigator.credentials.
function load(forms, { webauthn = true, credentials } = {}) {
  const calls = [];
  const context = {
    atob, btoa, setTimeout, URLSearchParams, AbortController,
    document: { readyState: 'complete', querySelectorAll: () => forms },
    navigator: { credentials: credentials(calls) },
  };
  context.window = context;
  if (webauthn) {
    context.PublicKeyCredential = function PublicKeyCredential() {};
    context.PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(true);
  }
  vm.runInNewContext(SOURCE, context);
  return calls;
}

function fakeCredentials(calls) {
  return {
    create(options) {
      calls.push(['create', options]);
      return Promise.resolve({
        id: 'q80', rawId: buf([0xab, 0xcd]), type: 'public-key',
        response: {
          clientDataJSON: buf([1]), attestationObject: buf([2, 255]),
          getTransports: () => ['internal'],
        },
        getClientExtensionResults: () => ({ credProps: { rk: true } }),
      });
    },
    get(options) {
      calls.push(['get', options]);
      if (options.mediation === 'conditional') {
        return new Promise((_, reject) => {
          options.signal.addEventListener('abort', () => reject(domError('AbortError')));
        });
      }
      return Promise.resolve({
        id: 'q80', rawId: buf([0xab, 0xcd]), type: 'public-key',
        response: {
          clientDataJSON: buf([1]), authenticatorData: buf([3]), signature: buf([4]),
          userHandle: buf([5, 6]),
        },
        getClientExtensionResults: () => ({}),
      });
    },
  };
}

const creation = JSON.stringify({
  publicKey: {
    rp: { id: 'usher.example' }, challenge: 'AQID_-8', user: { id: 'AAEC', name: 'alice' },
    excludeCredentials: [{ type: 'public-key', id: 'BQY' }],
  },
});

test('a registration form runs create with binary options and posts the credential JSON', async () => {
  const register = form({ 'data-passkey': 'register', 'data-passkey-options': creation });
  const calls = load([register], { credentials: fakeCredentials });
  assert.equal(register.hidden, false);
  register.fire('submit');
  await tick();
  const [[kind, options]] = calls;
  assert.equal(kind, 'create');
  assert.deepEqual(bytes(options.publicKey.challenge), [1, 2, 3, 0xff, 0xef]);
  assert.deepEqual(bytes(options.publicKey.user.id), [0, 1, 2]);
  assert.deepEqual(bytes(options.publicKey.excludeCredentials[0].id), [5, 6]);
  assert.equal(register.submitted, 1);
  assert.equal(register.elements.ceremony.value, 'ceremony-inline');
  assert.deepEqual(JSON.parse(register.elements.credential.value), {
    id: 'q80', rawId: 'q80', type: 'public-key',
    response: { clientDataJSON: 'AQ', attestationObject: 'Av8', transports: ['internal'] },
    clientExtensionResults: { credProps: { rk: true } },
  });
});

test('a cancelled ceremony posts nothing and marks the form', async () => {
  const register = form({ 'data-passkey': 'register', 'data-passkey-options': creation });
  load([register], {
    credentials: () => ({ create: () => Promise.reject(domError('NotAllowedError')) }),
  });
  register.fire('submit');
  await tick();
  assert.equal(register.submitted, 0);
  assert.equal(register.getAttribute('data-passkey-state'), 'error');
  assert.equal(register.status.attrs['data-error'], 'NotAllowedError');
  assert.equal(register.status.textContent, 'Try again');
});

test('autofill uses its own ceremony and the button aborts it for the modal one', async () => {
  const signIn = form({
    'data-passkey': 'authenticate',
    'data-passkey-options': JSON.stringify({ publicKey: { challenge: 'BAU', rpId: 'usher.example' } }),
    'data-passkey-autofill-options': JSON.stringify({ publicKey: { challenge: 'Bgc', rpId: 'usher.example' } }),
    'data-passkey-autofill-ceremony': 'ceremony-autofill',
  });
  const calls = load([signIn], { credentials: fakeCredentials });
  await tick();
  const autofill = calls.find(([, o]) => o.mediation === 'conditional');
  assert.ok(autofill, 'a conditional request is pending');
  assert.deepEqual(bytes(autofill[1].publicKey.challenge), [6, 7]);
  signIn.fire('submit');
  await tick();
  const modal = calls.filter(([kind, o]) => kind === 'get' && !o.mediation);
  assert.equal(modal.length, 1);
  assert.deepEqual(bytes(modal[0][1].publicKey.challenge), [4, 5]);
  assert.equal(signIn.submitted, 1);
  assert.equal(signIn.elements.ceremony.value, 'ceremony-inline');
  assert.deepEqual(JSON.parse(signIn.elements.credential.value).response, {
    clientDataJSON: 'AQ', authenticatorData: 'Aw', signature: 'BA', userHandle: 'BQY',
  });
  assert.equal(signIn.getAttribute('data-passkey-state'), null, 'the abort is quiet');
});

test('without WebAuthn the forms stay hidden', () => {
  const register = form({ 'data-passkey': 'register', 'data-passkey-options': creation });
  load([register], { webauthn: false, credentials: fakeCredentials });
  assert.equal(register.hidden, true);
});
