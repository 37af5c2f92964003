// The newcomer's first code, as bench/newcomer.sh times it: against a running `make dev`,
// signs in as alice in headless Chromium, opens the demo account, reveals its code with a
// reason and checks it against RFC 6238 computed here. Prints the seconds it took.
// Usage: node tests/browser/first-code.mjs http://127.0.0.1:8080
import { chromium } from 'playwright-core';
import { CHROMIUM, signIn, totpWindow } from './harness.mjs';

const base = process.argv[2] || 'http://127.0.0.1:8080';
const DEMO_SEED = '6QPONMYIMP6SKWAI4EGMK7HFNZBRDGXL';
const started = Date.now();
const browser = await chromium.launch({ executablePath: CHROMIUM });
try {
  const page = await browser.newPage();
  await signIn(page, base, 'alice');
  await page.getByRole('link', { name: '@keyward_demo' }).click();
  await page.getByTestId('justification').fill('first look at Keyward');
  await page.getByTestId('reveal').click();
  const code = await page.getByTestId('totp-code').getAttribute('data-code');
  if (!totpWindow(DEMO_SEED).includes(code)) throw new Error(`code ${code} is not the demo seed's`);
  console.log(`first code ${code} (RFC 6238 checked) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  await browser.close();
}
