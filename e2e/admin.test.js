// The admin console (/admin, issue 17) in a real browser (headless Chromium,
// playwright-core), under Usher's real CSP. alice is in usher-admins (`usher group
// add-member usher-admins alice`), bob is not.
//
// - bob signs in at /admin and gets 403, "You do not have access to the admin console";
// - alice signs in through /authorize (the built-in client), registers a client in the
//   console, sees its secret once (and not on the client's page), creates a group, joins
//   it, and restricts the client to it; a second tab's form, rendered before that save,
//   is refused as changed by someone else;
// - a relying party with that client: bob is refused at sign-in ("You do not have access
//   to …"), alice gets in;
// - a console form works once: the same token posted again is refused;
// - rotating the secret and deleting the client go through confirmation pages; a
//   resource server is registered and changed;
// - the audit trail (/admin/audit) shows each of those console changes, newest first,
//   with alice (person:<her id>) as the actor, and filters by kind;
// - people: alice creates carol, finds her by a search, sets her password (carol's
//   session ends), ends her sessions (confirmed first); the trail has each step.
// - a person's sessions one by one: bob's browser ended from his sessions page
//   (confirmed first); an admin API token for alice herself, which the API accepts.
// - invitations and registration tokens: the link (when asked for) and the token shown
//   once; the token registers an app; each revoked after a confirmation page.
//
// Every console page visited is audited with axe-core (WCAG 2.1 A and AA) and checked
// for its CSP (no script at all, nothing blocked, no inline script or handler).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { PASSWORD, audit, landAtRp, launchBrowser, login } from './lib/browser.js';
import { startRelyingParty } from './lib/rp.js';
import { startUsher } from './lib/usher.js';

let usher;
let ui;
let alice; // alice's browser: { context, page }
let created; // { clientId, secret }
let rp;
let aliceId; // person:<this> is the actor of alice's console changes

before(async () => {
  usher = await startUsher({ USHER_SIGNUP: 'invite', USHER_REGISTRATION: 'token' });
  for (const name of ['alice', 'bob']) {
    const made = usher.cli(['user', 'create', '--json', '--username', name, '--email', `${name}@example.com`,
      '--email-verified', '--password-stdin'], `${PASSWORD}\n`);
    if (name === 'alice') aliceId = made.id;
  }
  usher.cli(['group', 'add-member', 'usher-admins', 'alice', '--json']);
  ui = await launchBrowser('admin-blank');
});

after(async () => {
  await ui?.close();
  rp?.close();
  usher?.stop();
});

/** A new browser (its own cookies) that records CSP violations and the policy and status
 *  of every Usher page it loads. */
async function newBrowser() {
  const context = await ui.browser.newContext();
  await context.addInitScript(() => {
    globalThis.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      globalThis.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const page = await context.newPage();
  watch(page);
  return { context, page };
}

function watch(page) {
  page.on('response', (r) => {
    if (r.request().isNavigationRequest() && r.url().startsWith(usher.issuer)) {
      page.usherPolicy = r.headers()['content-security-policy'] ?? '';
      page.usherStatus = r.status();
    }
  });
}

/** The CSP (no script at all on the console), nothing blocked, no inline script or
 *  handler, and axe-core. */
async function check(page, name) {
  const csp = page.usherPolicy;
  assert.match(csp, /(^|;)\s*default-src 'none'/, `${name}: ${csp}`);
  assert.doesNotMatch(csp, /script-src|unsafe-inline|unsafe-eval/, `${name}: ${csp}`);
  const seen = await page.evaluate(() => ({
    violations: globalThis.cspViolations ?? [],
    scripts: [...document.scripts].map((s) => s.outerHTML.slice(0, 80)),
    handlers: [...document.querySelectorAll('*')].flatMap((e) => [...e.attributes]
      .filter((a) => /^on/i.test(a.name)).map((a) => `${e.tagName.toLowerCase()} ${a.name}`)),
  }));
  assert.deepEqual(seen.violations, [], `${name}: CSP violations`);
  assert.deepEqual(seen.scripts, [], `${name}: scripts`);
  assert.deepEqual(seen.handlers, [], `${name}: event-handler attributes`);
  await audit(page, name);
}

/** Opens /admin and signs `username` in (the console sends the browser to /authorize). */
async function signInToConsole(page, username) {
  await page.goto(`${usher.issuer}/admin`);
  await login(page, username);
  await page.waitForURL(`${usher.issuer}/admin`);
}

test('a person outside usher-admins gets 403 at the console', async () => {
  const { context, page } = await newBrowser();
  try {
    await signInToConsole(page, 'bob');
    assert.equal(page.usherStatus, 403);
    assert.equal(await page.locator('h1').innerText(), 'You do not have access to the admin console');
    await check(page, 'admin forbidden');
    // Every console page and form answers the same, never a list.
    const res = await page.request.get(`${usher.issuer}/admin/clients`, { maxRedirects: 0 });
    assert.equal(res.status(), 403);
    const post = await page.request.post(`${usher.issuer}/admin/groups`, {
      form: { csrf: 'x'.repeat(43), name: 'sneaky' }, maxRedirects: 0,
    });
    assert.notEqual(post.status(), 200);
    assert.doesNotMatch(await (await page.request.get(`${usher.issuer}/admin/groups`)).text(), /sneaky/);
  } finally {
    await context.close();
  }
});

test('an admin creates a client, sees its secret once, and restricts it to a group', async () => {
  alice = await newBrowser();
  const { page } = alice;
  await signInToConsole(page, 'alice');
  assert.equal(page.usherStatus, 200);
  await check(page, 'admin home');

  await page.getByRole('link', { name: 'Clients', exact: true }).first().click();
  await check(page, 'admin clients (empty)');
  await page.getByRole('link', { name: 'Register a new client' }).click();
  await check(page, 'admin new client');
  await page.getByLabel('Name', { exact: true }).fill('Staff wiki');
  await page.getByLabel('Redirect URIs', { exact: true }).fill('http://127.0.0.1/callback');
  await page.getByLabel('Scope', { exact: true }).fill('openid profile email');
  await page.getByRole('button', { name: 'Register the client' }).click();
  await page.locator('#client-secret').waitFor();
  assert.equal(page.usherStatus, 201);
  await check(page, 'admin client created');
  created = {
    clientId: await page.locator('#client-id').innerText(),
    secret: await page.locator('#client-secret').innerText(),
  };
  assert.ok(created.secret.length >= 43, 'a secret of at least 256 bits');

  await page.getByRole('link', { name: 'Continue to the client' }).click();
  await page.locator('#client-fields').waitFor();
  await check(page, 'admin client');
  assert.ok(!(await page.content()).includes(created.secret), 'the secret is never shown again');
  assert.equal(await page.locator('#client-groups').innerText(), 'everyone who can sign in');
  const clientUrl = page.url();

  // The list finds it by a piece of its name.
  await page.goto(`${usher.issuer}/admin/clients?q=wiki`);
  await check(page, 'admin clients (search)');
  assert.equal(await page.locator('tbody tr').count(), 1);

  // A group, and alice in it.
  await page.goto(`${usher.issuer}/admin/groups`);
  await check(page, 'admin groups');
  await page.getByLabel('Name', { exact: true }).fill('staff');
  await page.getByLabel('Description', { exact: true }).fill('People who may use the wiki');
  await page.getByRole('button', { name: 'Create the group' }).click();
  await page.getByRole('heading', { name: 'Group staff' }).waitFor();
  await page.getByLabel('Username', { exact: true }).fill('alice');
  await page.getByRole('button', { name: 'Add the member' }).click();
  await page.locator('#member-list').waitFor();
  assert.match(await page.locator('#member-list').innerText(), /alice/);
  await check(page, 'admin group');

  // A second tab shows the client now: its form carries the view's tag.
  const stale = await alice.context.newPage();
  watch(stale);
  await stale.goto(clientUrl);

  await page.goto(clientUrl);
  await page.getByLabel('staff', { exact: true }).check();
  await page.getByRole('button', { name: 'Save who may use it' }).click();
  await page.getByRole('status').waitFor();
  assert.equal(await page.locator('#client-groups').innerText(), 'members of staff');
  await check(page, 'admin client saved');

  // The second tab's form was rendered before the save: refused, nothing written.
  await stale.getByLabel('Allowed origins', { exact: true }).fill('https://other.example');
  await stale.getByRole('button', { name: 'Save who may use it' }).click();
  await stale.locator('#admin-error').waitFor();
  assert.equal(stale.usherStatus, 412);
  assert.match(await stale.locator('#admin-error').innerText(), /changed by someone else/);
  assert.equal(await stale.locator('#client-groups').innerText(), 'members of staff');
  await check(stale, 'admin client stale');
  await stale.close();
});

test('a person outside the group is refused at sign-in to the restricted client', async () => {
  assert.ok(created, 'the client was created');
  rp = await startRelyingParty({
    issuer: usher.issuer, clientId: created.clientId, clientSecret: created.secret, scope: 'openid profile email',
  });
  const bob = await newBrowser();
  try {
    await bob.page.goto(`${rp.base}/login`);
    await login(bob.page, 'bob');
    await bob.page.locator('#no-access').waitFor();
    assert.match(await bob.page.locator('#no-access').innerText(), /You do not have access to Staff wiki/);
    assert.equal(bob.page.usherStatus, 403);
  } finally {
    await bob.context.close();
  }
  // alice, a member, gets in with the secret the console showed.
  const { page } = alice;
  await page.goto(`${rp.base}/login`);
  const claims = await landAtRp(page, rp);
  assert.ok(claims.sub);
});

test('a console form works once', async () => {
  const { page } = alice;
  await page.goto(`${usher.issuer}/admin/groups`);
  const csrf = await page.locator('input[name="csrf"]').first().getAttribute('value');
  const first = await page.request.post(`${usher.issuer}/admin/groups`, {
    form: { csrf, name: 'once', description: '' }, maxRedirects: 0,
  });
  assert.equal(first.status(), 201);
  const again = await page.request.post(`${usher.issuer}/admin/groups`, {
    form: { csrf, name: 'twice', description: '' }, maxRedirects: 0,
  });
  assert.equal(again.status(), 400);
  assert.match(await again.text(), /This form cannot be used/);
  await page.goto(`${usher.issuer}/admin/groups`);
  const names = await page.locator('tbody').innerText();
  assert.match(names, /once/);
  assert.doesNotMatch(names, /twice/);
});

test('rotating a secret and deleting a client are confirmed first; resource servers', async () => {
  const { page } = alice;
  await page.goto(`${usher.issuer}/admin/clients/show?id=${encodeURIComponent(created.clientId)}`);
  await page.getByRole('link', { name: 'Rotate the client secret' }).click();
  await check(page, 'admin rotate confirm');
  await page.getByRole('button', { name: 'Rotate the secret' }).click();
  await page.locator('#client-secret').waitFor();
  await check(page, 'admin secret rotated');
  const rotated = await page.locator('#client-secret').innerText();
  assert.notEqual(rotated, created.secret);

  // A resource server: registered, changed.
  await page.goto(`${usher.issuer}/admin/resources`);
  await check(page, 'admin resources');
  await page.getByLabel('Identifier (URI)', { exact: true }).fill('https://api.example.com');
  await page.getByLabel('Name', { exact: true }).fill('Orders');
  await page.getByLabel('Scopes', { exact: true }).fill('orders:read');
  await page.getByRole('button', { name: 'Register the resource server' }).click();
  await page.getByRole('status').waitFor();
  await check(page, 'admin resource');
  await page.getByLabel('Scopes', { exact: true }).fill('orders:read orders:write');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('status').waitFor();
  assert.equal(await page.getByLabel('Scopes', { exact: true }).inputValue(), 'orders:read orders:write');
  await page.getByRole('link', { name: 'Delete the resource server' }).click();
  await check(page, 'admin resource delete confirm');
  await page.getByRole('button', { name: 'Delete the resource server' }).click();
  await page.locator('#admin-message').waitFor();

  // A group with a client restricted to it cannot be deleted: the CLI's message.
  await page.goto(`${usher.issuer}/admin/groups/show?name=staff`);
  await page.getByRole('link', { name: 'Delete the group' }).click();
  await check(page, 'admin group delete confirm');
  await page.getByRole('button', { name: 'Delete the group' }).click();
  await page.locator('#admin-message').waitFor();
  assert.equal(page.usherStatus, 409);
  assert.match(await page.locator('#admin-message').innerText(), /clients are restricted to group staff/);
  await check(page, 'admin refused');

  await page.goto(`${usher.issuer}/admin/clients/show?id=${encodeURIComponent(created.clientId)}`);
  await page.getByRole('link', { name: 'Delete the client' }).click();
  await check(page, 'admin delete confirm');
  await page.getByRole('button', { name: 'Delete the client' }).click();
  await page.locator('#admin-message').waitFor();
  const res = await page.request.get(`${usher.issuer}/admin/clients/show?id=${encodeURIComponent(created.clientId)}`);
  assert.equal(res.status(), 404);
});

test('the audit trail shows each console change with alice as the actor', async () => {
  const { page } = alice;
  assert.ok(aliceId, 'alice\'s id from usher user create');
  await page.goto(`${usher.issuer}/admin`);
  await page.getByRole('link', { name: 'Audit trail', exact: true }).first().click();
  await page.locator('#audit-events').waitFor();
  assert.equal(page.usherStatus, 200);
  await check(page, 'admin audit');
  const rows = await page.locator('#audit-events tbody tr').evaluateAll((trs) => trs.map((tr) =>
    [...tr.querySelectorAll('td')].map((td) => td.innerText.trim())));
  const byAlice = rows.filter((r) => r[2] === `person:${aliceId}`).map((r) => r[1]);
  for (const kind of ['client.created', 'group.created', 'group.member_added', 'client.updated',
    'client.secret_rotated', 'resource.created', 'resource.updated', 'resource.deleted',
    'client.deleted']) {
    assert.ok(byAlice.includes(kind), `${kind} by person:${aliceId} in ${JSON.stringify(rows)}`);
  }
  // Newest first: the client's deletion (the last step) before its creation.
  assert.ok(byAlice.indexOf('client.deleted') < byAlice.indexOf('client.created'));
  // Times are RFC 3339; the detail is JSON text.
  for (const r of rows) {
    assert.match(r[0], /^\d{4}-\d\d-\d\dT/);
    JSON.parse(r[7]);
  }

  // The kind filter: only group creations (staff, once).
  await page.getByLabel('Kind', { exact: true }).selectOption('group.created');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.locator('#audit-events').waitFor();
  await check(page, 'admin audit (filtered)');
  const kinds = await page.locator('#audit-events tbody tr td:nth-child(2)').allInnerTexts();
  assert.ok(kinds.length >= 2, JSON.stringify(kinds));
  assert.deepEqual([...new Set(kinds)], ['group.created']);
  assert.equal(await page.getByLabel('Kind', { exact: true }).inputValue(), 'group.created');

  // A time that is not one: the API's refusal, on the page.
  await page.goto(`${usher.issuer}/admin/audit?since=yesterday`);
  assert.equal(page.usherStatus, 400);
  assert.match(await page.locator('#admin-error').innerText(), /neither RFC 3339/);
  await check(page, 'admin audit (refused)');
});

test('people: create a person, set a password, end their sessions, edit and disable them (confirmed first)', async () => {
  const { page } = alice;
  await page.goto(`${usher.issuer}/admin`);
  await page.getByRole('link', { name: 'People', exact: true }).first().click();
  await page.locator('#people-list').waitFor();
  await check(page, 'admin people');
  await page.getByLabel('Username', { exact: true }).fill('carol');
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Name', { exact: true }).fill('Carol <b>Smith</b>');
  await page.getByLabel('E-mail', { exact: true }).fill('carol@example.com');
  await page.getByRole('button', { name: 'Create the person' }).click();
  await page.getByRole('heading', { name: 'Person carol' }).waitFor();
  assert.equal(page.usherStatus, 201);
  await check(page, 'admin person');
  const carolId = await page.locator('#person-id').innerText();
  assert.match(await page.locator('#person-fields').innerText(), /Carol <b>Smith<\/b>/, 'escaped, shown as typed');

  // The list finds carol by a piece of her e-mail address.
  await page.goto(`${usher.issuer}/admin/people?q=CAROL@`);
  await check(page, 'admin people (search)');
  assert.deepEqual(await page.locator('#people-list tbody tr td:first-child').allInnerTexts(), ['carol']);

  // carol signs in (a session), then an admin sets her password: her sessions end.
  const carol = await newBrowser();
  try {
    await signInToConsole(carol.page, 'carol');
    assert.equal(carol.page.usherStatus, 403, 'signed in, not an admin');
    await page.goto(`${usher.issuer}/admin/people/show?username=carol`);
    await page.getByLabel('New password', { exact: true }).fill(`${PASSWORD}-2`);
    await page.getByRole('button', { name: 'Set the password' }).click();
    await page.getByRole('status').waitFor();
    assert.match(await page.getByRole('status').innerText(), /The password was set; 1 session\(s\) ended/);
    await check(page, 'admin password set');
  } finally {
    await carol.context.close();
  }

  // Ending her sessions is confirmed first.
  await page.getByRole('link', { name: 'End every session' }).click();
  await check(page, 'admin end sessions confirm');
  await page.getByRole('button', { name: 'End every session' }).click();
  await page.locator('#admin-message').waitFor();
  assert.match(await page.locator('#admin-message').innerText(), /session\(s\) of carol ended/);
  await check(page, 'admin sessions ended');

  // Her profile is edited on her page (the form carries the page's tag), and disabling
  // her is confirmed first; then the page says since when and offers to enable her.
  await page.goto(`${usher.issuer}/admin/people/show?username=carol`);
  await page.getByLabel('Name', { exact: true }).fill('Carol Smith');
  await page.getByRole('button', { name: 'Save the profile' }).click();
  await page.getByRole('status').waitFor();
  assert.match(await page.getByRole('status').innerText(), /profile was saved/);
  assert.match(await page.locator('#person-fields').innerText(), /Carol Smith/);
  await page.getByRole('link', { name: 'Disable the person' }).click();
  await check(page, 'admin disable confirm');
  await page.getByRole('button', { name: 'Disable the person' }).click();
  await page.locator('#admin-message').waitFor();
  assert.match(await page.locator('#admin-message').innerText(), /carol can no longer sign in/);
  await page.goto(`${usher.issuer}/admin/people/show?username=carol`);
  assert.match(await page.locator('#person-status').innerText(), /disabled since/);
  await page.getByRole('link', { name: 'Enable the person again' }).waitFor();
  await check(page, 'admin person disabled');

  // The audit trail has each step, by alice, about carol.
  await page.goto(`${usher.issuer}/admin/audit?person=${encodeURIComponent(carolId)}`);
  await check(page, 'admin audit (person)');
  const rows = await page.locator('#audit-events tbody tr').evaluateAll((trs) => trs.map((tr) =>
    [...tr.querySelectorAll('td')].map((td) => td.innerText.trim())));
  const byAlice = rows.filter((r) => r[2] === `person:${aliceId}`).map((r) => r[1]);
  for (const kind of ['person.created', 'person.password_changed', 'person.sessions_revoked', 'person.updated', 'person.disabled']) {
    assert.ok(byAlice.includes(kind), `${kind} in ${JSON.stringify(rows)}`);
  }
});

test('signing keys: publish the next key, rotate at once (confirmed first)', async () => {
  const { page } = alice;
  await page.goto(`${usher.issuer}/admin`);
  await page.getByRole('link', { name: 'Signing keys', exact: true }).first().click();
  await page.locator('#key-list').waitFor();
  await check(page, 'admin keys');
  await page.getByLabel('Algorithm', { exact: true }).selectOption('ES256');
  await page.getByRole('button', { name: 'Publish the next keys' }).click();
  await page.locator('#admin-message').waitFor();
  assert.match(await page.locator('#admin-message').innerText(), /ES256: /);
  await check(page, 'admin keys published');

  await page.goto(`${usher.issuer}/admin/keys`);
  await page.getByLabel('Algorithm to rotate at once', { exact: true }).selectOption('EdDSA');
  await page.getByRole('button', { name: 'Rotate at once…' }).click();
  await check(page, 'admin keys rotate confirm');
  await page.getByRole('button', { name: 'Rotate at once' }).click();
  await page.locator('#admin-message').waitFor();
  assert.match(await page.locator('#admin-message').innerText(), /These keys sign now: EdDSA: /);

  await page.goto(`${usher.issuer}/admin/audit?kind=key.activated`);
  const actors = await page.locator('#audit-events tbody tr td:nth-child(3)').allInnerTexts();
  assert.ok(actors.includes(`person:${aliceId}`), JSON.stringify(actors));
});

test('refresh tokens: a person\'s families by username', async () => {
  const { page } = alice;
  await page.goto(`${usher.issuer}/admin`);
  await page.getByRole('link', { name: 'Refresh tokens', exact: true }).first().click();
  await check(page, 'admin refresh tokens');
  await page.getByLabel('Username', { exact: true }).fill('alice');
  await page.getByRole('button', { name: 'Show their refresh tokens' }).click();
  await page.locator('#families-none, #family-list').first().waitFor();
  await check(page, 'admin refresh tokens (alice)');
  await page.goto(`${usher.issuer}/admin/families?username=nobody`);
  assert.equal(page.usherStatus, 404);
  assert.match(await page.locator('#admin-message').innerText(), /no user nobody/);
});

test('sessions one by one, and an admin API token for oneself', async () => {
  const { page } = alice;
  await page.goto(`${usher.issuer}/admin/people/show?username=alice`);
  await page.getByRole('link', { name: 'Their sessions, one by one' }).click();
  await page.locator('#session-list').waitFor();
  await check(page, 'admin sessions');

  // bob signs in (403 at the console, but signed in); alice ends that browser's session.
  const bob = await newBrowser();
  try {
    await signInToConsole(bob.page, 'bob');
    await page.goto(`${usher.issuer}/admin/people/bob/sessions`);
    await page.locator('#session-list').waitFor();
    // bob signed in in earlier tests' browsers too: one line each, this one first.
    const before = await page.locator('#session-list tbody tr').count();
    await page.getByRole('link', { name: /^End this session/ }).first().click();
    await check(page, 'admin end session confirm');
    await page.getByRole('button', { name: 'End the session' }).click();
    await page.locator('#admin-message').waitFor();
    assert.match(await page.locator('#admin-message').innerText(), /bob is signed out of that browser/);
    await check(page, 'admin session ended');
    await page.goto(`${usher.issuer}/admin/people/bob/sessions`);
    await page.locator('#sessions-none, #session-list').first().waitFor();
    assert.equal(await page.locator('#session-list tbody tr').count(), before - 1);
  } finally {
    await bob.context.close();
  }

  // A read-only token for alice, shown once; the admin API takes it.
  await page.goto(`${usher.issuer}/admin/token`);
  await check(page, 'admin token');
  await page.getByLabel('Read only (admin:read)').check();
  await page.getByRole('button', { name: 'Issue a token' }).click();
  await page.locator('#admin-token').waitFor();
  await check(page, 'admin token issued');
  const token = await page.locator('#admin-token').innerText();
  assert.equal(await page.locator('#admin-token-scope').innerText(), 'admin:read');
  const read = await fetch(`${usher.issuer}/admin/api/v1/clients`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(read.status, 200);
  const write = await fetch(`${usher.issuer}/admin/api/v1/groups`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'nope' }),
  });
  assert.equal(write.status, 403);
});

test('invitations and registration tokens: shown once, revoked after confirmation', async () => {
  const { page } = alice;
  await page.goto(`${usher.issuer}/admin`);
  await page.getByRole('link', { name: 'Registration tokens', exact: true }).first().click();
  await check(page, 'admin registration tokens');
  await page.getByLabel('Registrations it allows', { exact: true }).fill('2');
  await page.getByRole('button', { name: 'Create a token' }).click();
  await page.locator('#registration-token').waitFor();
  assert.equal(page.usherStatus, 201);
  await check(page, 'admin registration token created');
  const token = await page.locator('#registration-token').innerText();
  const id = await page.locator('#registration-token-id').innerText();
  const register = () => fetch(`${usher.issuer}/register`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'Agent', redirect_uris: ['http://127.0.0.1:9/callback'], token_endpoint_auth_method: 'none' }),
  });
  assert.equal((await register()).status, 201);
  await page.goto(`${usher.issuer}/admin/registration-tokens`);
  assert.ok(!(await page.content()).includes(token), 'shown once');
  await page.goto(`${usher.issuer}/admin/registration-tokens/revoke?id=${id}`);
  await check(page, 'admin registration token revoke confirm');
  await page.getByRole('button', { name: 'Revoke the token' }).click();
  await page.locator('#admin-message').waitFor();
  assert.match(await page.locator('#admin-message').innerText(), /was revoked/);
  assert.equal((await register()).status, 401);

  await page.getByRole('link', { name: 'Invitations', exact: true }).first().click();
  await check(page, 'admin invitations');
  await page.getByLabel('Email address', { exact: true }).fill('dave@example.com');
  await page.getByLabel('Name (optional)', { exact: true }).fill('Dave');
  await page.getByRole('button', { name: 'Invite' }).click();
  await page.locator('#admin-error').waitFor();
  assert.match(await page.locator('#admin-error').innerText(), /no smtp_url/);
  await check(page, 'admin invitations refused');
  await page.getByLabel(/^Show me the link/).check();
  await page.getByRole('button', { name: 'Invite' }).click();
  await page.locator('#invitation-link').waitFor();
  await check(page, 'admin invitation link');
  const link = await page.locator('#invitation-link').innerText();
  assert.match(link, /\/signup\?invite=/);
  await page.getByRole('link', { name: 'Revoke the invitations to dave@example.com' }).click();
  await check(page, 'admin invitations revoke confirm');
  await page.getByRole('button', { name: 'Revoke the invitations' }).click();
  await page.locator('#admin-message').waitFor();
  assert.match(await page.locator('#admin-message').innerText(), /1 invitation to dave@example.com revoked/);
  const opened = await fetch(link);
  assert.equal(opened.status, 400, 'the link stops working');

  await page.goto(`${usher.issuer}/admin/audit?kind=invitation.revoked`);
  const actors = await page.locator('#audit-events tbody tr td:nth-child(3)').allInnerTexts();
  assert.ok(actors.includes(`person:${aliceId}`), JSON.stringify(actors));
});
