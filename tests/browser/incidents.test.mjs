// A lockout incident in real headless Chromium, from "Start an incident" on the account page
// to "resolved": one question at a time with big buttons, the TOTP code shown once with copy
// and countdown, backup codes handed out in order (each once), the open incident on the home
// page, Japanese on the same page, and the timeline. Screenshots go to tests/browser/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, shot, totpWindow, pageFor } from './harness.mjs';

const SEED = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const CODES = ['7301 4482', '9920 1175', '6048 3391', '2217 8806'];

let stack;
let accountId;
let page;
let incidentUrl;

before(async () => {
  stack = await startStack();
  const manager = stack.token('manager', 'marketing');
  const created = await stack.api('POST', '/api/v1/accounts', manager, { team: 'marketing', platform: 'x', handle: '@brand' });
  assert.equal(created.status, 201);
  accountId = created.body.id;
  assert.equal((await stack.api('PUT', `/api/v1/accounts/${accountId}/totp`, manager, { secret: SEED })).status, 201);
  const imported = await stack.api('POST', `/api/v1/accounts/${accountId}/backup-codes`, manager, { codes: CODES, issued_on: '2026-11-01' });
  assert.equal(imported.status, 201);
  // Alice is an operator: she can run incidents and use codes, not freeze accounts.
  page = await pageFor(stack, 'alice');
});

after(async () => {
  await stack?.stop();
});

const step = () => page.getByTestId('incident-step').getAttribute('data-step');

test('an operator starts a lockout incident from the account page', async () => {
  await page.goto(`${stack.base}/accounts/${accountId}`);
  await page.getByTestId('start-incident-toggle').click();
  await page.getByTestId('runbook-lockout').check();
  await page.getByTestId('incident-note').fill('X asks for a code; the phone is gone');
  await shot(page, '60-incident-start');
  await Promise.all([page.waitForURL(/\/incidents\/[0-9a-f-]{36}$/), page.getByTestId('start-incident').click()]);
  incidentUrl = page.url();
  assert.equal(await page.getByTestId('incident-title').textContent(), 'Locked out');
  assert.equal(await page.getByTestId('incident-state').getAttribute('data-state'), 'open');
  assert.equal(await step(), 'device_left');
  assert.match(await page.getByTestId('step-text').textContent(), /still signed in somewhere/);
  await shot(page, '61-incident-first-question');
});

test('the open incident is listed on the home page and the account page', async () => {
  await page.goto(`${stack.base}/`);
  const rows = page.getByTestId('open-incidents').getByTestId('incident-row');
  assert.equal(await rows.count(), 1);
  assert.match(await rows.first().textContent(), /@brand.*Locked out/s);
  await page.goto(`${stack.base}/accounts/${accountId}`);
  assert.equal(await page.getByTestId('account-incidents').getByTestId('incident-row').count(), 1);
  await page.getByTestId('nav-incidents').click();
  assert.equal(await page.getByTestId('incident-row').count(), 1);
  await shot(page, '66-incidents-list');
  await page.goto(incidentUrl);
});

test('one question at a time, in Japanese as well', async () => {
  await page.getByTestId('choice-no').click();
  assert.equal(await step(), 'old_device');
  await page.getByTestId('language-switch').click();
  assert.equal(await page.getByTestId('incident-title').textContent(), '2段階認証を通過できない');
  assert.match(await page.getByTestId('step-text').textContent(), /認証アプリが入った以前の端末/);
  await shot(page, '62-incident-ja');
  await page.getByTestId('language-switch').click();
  await page.getByTestId('choice-no').click();
  assert.equal(await step(), 'try_totp');
});

test('the TOTP code is shown once, with copy and a countdown', async () => {
  await page.getByTestId('choice-reveal').click();
  const code = await page.getByTestId('incident-code').getAttribute('data-code');
  assert.ok(totpWindow(SEED).includes(code), `${code} is the current code`);
  assert.ok(await page.getByTestId('incident-copy').isVisible());
  const left = Number(await page.getByTestId('incident-expires-in').textContent());
  assert.ok(left > 0 && left <= 30, `${left} seconds left`);
  assert.equal(await step(), 'totp_result');
  await shot(page, '63-incident-totp');
  await page.reload();
  assert.equal(await page.getByTestId('incident-code').count(), 0, 'a reload does not show it again');
  assert.equal(await step(), 'totp_result', 'and repeats nothing');
  await page.getByTestId('choice-rejected').click();
  assert.equal(await step(), 'try_backup_code');
});

test('backup codes come in order, each once, and each result is recorded', async () => {
  await page.getByTestId('choice-check_out').click();
  assert.equal(await page.getByTestId('incident-code').textContent(), CODES[0]);
  await shot(page, '64-incident-backup-code');
  await page.getByTestId('choice-rejected').click();
  assert.equal(await step(), 'try_backup_code');
  assert.equal(await page.getByTestId('incident-code').count(), 0);
  await page.getByTestId('choice-check_out').click();
  assert.equal(await page.getByTestId('incident-code').textContent(), CODES[1]);
  await page.getByTestId('answer-note').fill('typed on the shared laptop');
  await page.getByTestId('choice-worked').click();
  assert.equal(await step(), 'recovered');
  assert.ok(await page.getByTestId('step-done').isVisible());
});

test('an action the role does not allow is refused on the page, and the incident stays', async () => {
  // A second incident on the same account, to the leak runbook's freeze step.
  await page.goto(`${stack.base}/accounts/${accountId}`);
  await page.getByTestId('start-incident-toggle').click();
  await page.getByTestId('runbook-leak').check();
  await Promise.all([page.waitForURL(/\/incidents\/[0-9a-f-]{36}$/), page.getByTestId('start-incident').click()]);
  await page.getByTestId('choice-freeze').click();
  assert.match(await page.getByTestId('incident-error').textContent(), /does not allow freeze_account/);
  assert.equal(await step(), 'freeze');
  await page.getByTestId('cancel-reason').evaluate((el) => el.closest('details').setAttribute('open', ''));
  await page.getByTestId('cancel-reason').fill('a manager will take it');
  await page.getByTestId('cancel').click();
  assert.equal(await page.getByTestId('incident-state').getAttribute('data-state'), 'cancelled');
  await page.goto(incidentUrl);
});

test('the incident is resolved with a summary, and its timeline tells the story', async () => {
  await page.getByTestId('resolve-summary').fill('second backup code worked; codes to be regenerated');
  await page.getByTestId('resolve').click();
  assert.equal(await page.getByTestId('incident-state').getAttribute('data-state'), 'resolved');
  assert.equal(await page.getByTestId('incident-summary').textContent(), 'second backup code worked; codes to be regenerated');
  const entries = await page.getByTestId('timeline-entry').allTextContents();
  // start, 3 answers, reveal (answer + action), 2 × (check-out + report), resolve.
  assert.equal(entries.length, 1 + 3 + 2 + 8 + 1, entries.join('\n'));
  assert.match(entries[0], /Alice Operator started the incident/);
  assert.match(entries.at(-1), /resolved the incident — second backup code worked/);
  assert.ok(entries.some((e) => /typed on the shared laptop/.test(e)));
  const body = await page.locator('body').textContent();
  for (const code of CODES) assert.equal(body.includes(code), false, 'no code is on the closed incident');
  await shot(page, '65-incident-resolved');
  await page.goto(`${stack.base}/`);
  assert.equal(await page.getByTestId('open-incidents').count(), 0, 'no open incident is left');
});
