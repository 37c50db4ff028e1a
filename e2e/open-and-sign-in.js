// A person at a browser, for the README walkthrough test (crates/usher/tests/it/readme.rs):
// opens the URL `usher try sign-in` printed in headless Chromium (Debian's package, driven
// by playwright-core as in signin.test.js), signs in, allows, and waits for the page the
// try command shows at the end. Exits 0 when that page says "Signed in".
//
//   node e2e/open-and-sign-in.js URL USERNAME   (the password on standard input)
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

import { CHROMIUM, FLAGS } from './lib/browser.js';

const [url, username] = process.argv.slice(2);
if (!url || !username) {
  console.error('usage: node e2e/open-and-sign-in.js URL USERNAME (password on stdin)');
  process.exit(64);
}
const password = readFileSync(0, 'utf8').split('\n')[0];

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(30_000);
  await page.goto(url);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: /sign in/i }).click();
  await page.getByRole('button', { name: /allow/i }).click();
  const heading = page.getByRole('heading', { level: 1 });
  await heading.waitFor();
  const said = await heading.innerText();
  if (said !== 'Signed in') {
    throw new Error(`the try command's page says ${JSON.stringify(said)}: ${await page.content()}`);
  }
  console.log(`signed in; the browser is at ${page.url()}`);
} finally {
  await browser.close();
}
