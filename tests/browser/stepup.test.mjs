// Step-up from a dashboard form in real Chromium: an old IdP authentication makes the reveal
// form send the browser back to the IdP (POST → 303 → /auth/login → 302 → IdP). The page's
// Content-Security-Policy (form-action) must not block that redirect chain, and after signing
// in again the same page reveals the code.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, signIn, shot } from './harness.mjs';

const SEED = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
let stack;
let accountId;

before(async () => {
  stack = await startStack({ tamper: 'stale_auth_time_once' });
  const manager = stack.token('manager', 'marketing');
  const created = await stack.api('POST', '/api/v1/accounts', manager, { team: 'marketing', platform: 'x', handle: '@stepup' });
  assert.equal(created.status, 201);
  accountId = created.body.id;
  assert.equal((await stack.api('PUT', `/api/v1/accounts/${accountId}/totp`, manager, { secret: SEED })).status, 201);
});

after(async () => {
  await stack?.stop();
});

test('an old sign-in steps up from the reveal form and comes back to reveal', async () => {
  const context = await stack.browser.newContext({ locale: 'en-US' });
  const page = await context.newPage();
  const blocked = [];
  page.on('console', (msg) => {
    if (/Content Security Policy|Refused to/.test(msg.text())) blocked.push(msg.text());
  });
  await signIn(page, stack.base, 'alice');
  await page.goto(`${stack.base}/accounts/${accountId}`);
  assert.equal(await page.getByTestId('reauth-hint').count(), 1, 'the page says a fresh sign-in is needed');
  await page.getByTestId('justification').fill('weekly post');
  await Promise.all([page.waitForURL(`${stack.idp.issuer}/**`), page.getByTestId('reveal').click()]);
  await shot(page, '30-step-up-at-idp');
  assert.deepEqual(blocked, [], 'no redirect of the form was blocked');
  await page.locator('#login').fill('alice');
  await page.locator('#password').fill('demo');
  await Promise.all([page.waitForURL(`${stack.base}/accounts/${accountId}`), page.getByRole('button', { name: 'Sign in' }).click()]);
  assert.equal(await page.getByTestId('reauth-hint').count(), 0);
  await page.getByTestId('justification').fill('weekly post');
  await page.getByTestId('reveal').click();
  const code = await page.getByTestId('totp-code').getAttribute('data-code');
  assert.match(code, /^\d{6}$/);
  await shot(page, '31-step-up-revealed');
  await context.close();
});
