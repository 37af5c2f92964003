// The dashboard in real headless Chromium: sign in through the IdP, see the team's accounts,
// reveal a code (checked against an independent TOTP computation), copy it, switch language,
// empty state for a member without a team, sign out. Screenshots go to tests/browser/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, signIn, totpWindow, shot } from './harness.mjs';

const SEED = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
let stack;
let accountId;

before(async () => {
  stack = await startStack();
  const manager = stack.token('manager', 'marketing');
  const created = await stack.api('POST', '/api/v1/accounts', manager, {
    team: 'marketing', platform: 'instagram', handle: '@keyward_demo', login_url: 'https://www.instagram.com/accounts/login/', notes: 'Main brand account',
  });
  assert.equal(created.status, 201);
  accountId = created.body.id;
  const set = await stack.api('PUT', `/api/v1/accounts/${accountId}/totp`, manager, { secret: SEED });
  assert.equal(set.status, 201);
  await stack.api('POST', '/api/v1/accounts', manager, { team: 'marketing', platform: 'x', handle: '@keyward_news' });
});

after(async () => {
  await stack?.stop();
});

function cspViolations(page) {
  const violations = [];
  page.on('console', (msg) => {
    if (/Content Security Policy|Refused to/.test(msg.text())) violations.push(msg.text());
  });
  return violations;
}

test('an operator signs in, reveals a code that matches an authenticator, and copies it', async () => {
  const context = await stack.browser.newContext({ locale: 'en-US' });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.base });
  const page = await context.newPage();
  const violations = cspViolations(page);

  await page.goto(`${stack.base}/`);
  assert.match(page.url(), /\/signin$/);
  await shot(page, '01-signin');
  await signIn(page, stack.base, 'alice');
  assert.equal(new URL(page.url()).pathname, '/accounts');
  assert.equal(await page.getByTestId('user-name').textContent(), 'Alice Operator');
  assert.equal(await page.getByTestId('account-link').count(), 2);
  await shot(page, '02-accounts');

  await page.getByTestId('account-link').filter({ hasText: '@keyward_demo' }).click();
  assert.equal(await page.getByTestId('account-handle').textContent(), '@keyward_demo');
  await shot(page, '03-account');
  await page.getByTestId('justification').fill('posting the launch video');
  // Reveal early in a 30 s period: a code revealed in its last seconds expires (and its copy
  // button is disabled) before the countdown and copy checks below have run.
  const intoPeriod = (Date.now() / 1000) % 30;
  if (intoPeriod > 20) await page.waitForTimeout((30.5 - intoPeriod) * 1000);
  await page.getByTestId('reveal').click();
  const code = await page.getByTestId('totp-code').getAttribute('data-code');
  assert.ok(totpWindow(SEED).includes(code), `code ${code} matches RFC 6238`);
  assert.equal((await page.getByTestId('totp-code').textContent()).replace(' ', ''), code);

  const before = Number(await page.getByTestId('expires-in').textContent());
  await page.waitForTimeout(2100);
  const later = Number(await page.getByTestId('expires-in').textContent());
  assert.ok(later < before || before <= 2, `the countdown runs (${before} → ${later})`);

  await page.getByTestId('copy').click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), code);
  await shot(page, '04-revealed');
  assert.deepEqual(violations, []);
  await context.close();
});

test('a member whose groups grant nothing sees how to get access', async () => {
  const context = await stack.browser.newContext({ locale: 'en-US' });
  const page = await context.newPage();
  await signIn(page, stack.base, 'nora');
  await page.getByTestId('empty-no-team').waitFor();
  assert.match(await page.getByTestId('empty-no-team').textContent(), /Ask an admin to bind your IdP group/);
  await shot(page, '05-no-team');
  await context.close();
});

test('a viewer sees the account but cannot reveal', async () => {
  const context = await stack.browser.newContext({ locale: 'en-US' });
  const page = await context.newPage();
  await signIn(page, stack.base, 'victor');
  await page.goto(`${stack.base}/accounts/${accountId}`);
  await page.getByTestId('totp-not-allowed').waitFor();
  assert.equal(await page.getByTestId('reveal').count(), 0);
  await shot(page, '06-viewer');
  await context.close();
});

test('Japanese follows the browser language and the switch goes back to English', async () => {
  const context = await stack.browser.newContext({ locale: 'ja-JP' });
  const page = await context.newPage();
  await page.goto(`${stack.base}/signin`);
  assert.equal(await page.locator('h1').textContent(), 'Keyward にログイン');
  await shot(page, '07-signin-ja');
  await signIn(page, stack.base, 'alice');
  assert.equal(await page.locator('h1').textContent(), 'アカウント');
  await shot(page, '08-accounts-ja');
  await page.getByTestId('language-switch').click();
  assert.equal(await page.locator('h1').textContent(), 'Accounts');
  await context.close();
});

test('signing out ends the session', async () => {
  const context = await stack.browser.newContext({ locale: 'en-US' });
  const page = await context.newPage();
  await signIn(page, stack.base, 'alice');
  await page.getByTestId('sign-out').click();
  assert.match(page.url(), /\/signin\?signed_out=1$/);
  assert.match(await page.locator('main [role=status]').textContent(), /signed out/);
  await page.goto(`${stack.base}/accounts`);
  assert.match(page.url(), /\/signin\?return_to=%2Faccounts$/);
  await shot(page, '09-signed-out');
  await context.close();
});
