// Access requests in real headless Chromium, for both roles: an operator (alice) meets a
// locked account, asks for 30 minutes with a reason and sees the request waiting; a manager
// (mia, in Japanese) sees the badge in the header and the request on the Access requests page
// and approves it (her sign-in is fresh); alice then sees the time left and reveals the code,
// and ends her access herself. Each form answers with a redirect: a reload repeats nothing.
// Screenshots go to tests/browser/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, shot, pageFor as harnessPageFor, totpWindow, a11yViolations } from './harness.mjs';

const SEED = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
let stack;
let accountId;
const pageFor = (user, locale = 'en-US') => harnessPageFor(stack, user, { locale });

before(async () => {
  stack = await startStack();
  const manager = stack.token('manager', 'marketing');
  const created = await stack.api('POST', '/api/v1/accounts', manager, { team: 'marketing', platform: 'x', handle: '@ceo' });
  assert.equal(created.status, 201);
  accountId = created.body.id;
  assert.equal((await stack.api('PUT', `/api/v1/accounts/${accountId}/totp`, manager, { secret: SEED })).status, 201);
  const locked = await stack.api('PATCH', `/api/v1/accounts/${accountId}`, manager, { access: 'approval' });
  assert.equal(locked.status, 200);
  assert.equal(locked.body.access, 'approval');
});

after(async () => {
  await stack?.stop();
});

test('an operator meets a locked account and asks for access; a reload repeats nothing', async () => {
  const alice = await pageFor('alice');
  await alice.goto(`${stack.base}/accounts/${accountId}`);
  assert.ok(await alice.getByTestId('access-card').isVisible());
  assert.equal(await alice.getByTestId('reveal').count(), 0, 'no reveal form without a grant');
  assert.ok(await alice.getByTestId('totp-held-back').isVisible());
  assert.deepEqual(await a11yViolations(alice), []);
  await shot(alice, '100-access-locked');
  assert.ok(await alice.getByTestId('access-action-totp_reveal').isChecked(), 'the code is asked for by default');
  await alice.getByTestId('access-minutes').selectOption('30');
  await alice.getByTestId('access-reason').fill('Customer escalation #42: post the recall notice');
  await Promise.all([alice.waitForURL(/\/accounts\/[^/]+\?shown=/), alice.getByTestId('access-ask').click()]);
  assert.match(await alice.getByTestId('access-pending').textContent(), /waiting for approval/);
  await shot(alice, '101-access-pending');
  await alice.reload();
  assert.equal(await alice.getByTestId('access-pending').count(), 1, 'still one waiting request');
  await alice.goto(`${stack.base}/access-requests`);
  assert.equal(await alice.getByTestId('access-mine').getByTestId('access-row').count(), 1);
  assert.equal(await alice.getByTestId('access-badge').count(), 0, 'an operator decides nothing');
});

test('a manager sees the badge, reads the request in Japanese and approves it', async () => {
  const mia = await pageFor('mia', 'ja-JP');
  await mia.goto(`${stack.base}/accounts`);
  assert.equal((await mia.getByTestId('access-badge').textContent()).trim(), '1');
  await mia.getByTestId('nav-access').click();
  const rows = mia.getByTestId('access-to-decide').getByTestId('access-row');
  assert.equal(await rows.count(), 1);
  await rows.getByTestId('access-link').click();
  assert.match(await mia.getByTestId('access-why').textContent(), /recall notice/);
  assert.match(await mia.getByTestId('access-state').textContent(), /承認待ち/);
  assert.deepEqual(await a11yViolations(mia), []);
  await shot(mia, '102-access-request-ja');
  await mia.getByTestId('access-comment').fill('確認しました');
  await Promise.all([mia.waitForURL(/\/access-requests\/[^/]+$/), mia.getByTestId('access-approve').click()]);
  assert.equal(await mia.getByTestId('access-state').getAttribute('data-state'), 'approved');
  await mia.reload();
  assert.equal(await mia.getByTestId('access-state').getAttribute('data-state'), 'approved');
  assert.equal(await mia.getByTestId('access-approve').count(), 0, 'nothing left to decide');
  await mia.goto(`${stack.base}/accounts`);
  assert.equal(await mia.getByTestId('access-badge').count(), 0, 'the badge is gone');
});

test('the operator sees the time left, reveals the code, and ends the access', async () => {
  const alice = await pageFor('alice');
  await alice.goto(`${stack.base}/accounts/${accountId}`);
  const left = alice.getByTestId('access-time-left');
  await alice.waitForFunction(() => /^0:(29|30):\d\d$/.test(document.querySelector('[data-testid=access-time-left]').textContent));
  assert.match(await left.textContent(), /^0:(29|30):\d\d$/);
  await alice.getByTestId('justification').fill('recall notice');
  await Promise.all([alice.waitForURL(/\?shown=/), alice.getByTestId('reveal').click()]);
  const code = await alice.getByTestId('totp-code').getAttribute('data-code');
  assert.ok(totpWindow(SEED).includes(code), `the code ${code} is the seed's`);
  await shot(alice, '103-access-granted');
  await Promise.all([alice.waitForURL(/\/accounts\/[^/]+/), alice.getByTestId('access-end').click()]);
  assert.ok(await alice.getByTestId('access-form').isVisible(), 'the ask form is back');
  assert.equal(await alice.getByTestId('reveal').count(), 0);
});

test('the requester sees it in Japanese too', async () => {
  const alice = await pageFor('alice', 'ja-JP');
  await alice.goto(`${stack.base}/accounts/${accountId}`);
  assert.match(await alice.getByTestId('access-card').textContent(), /承認が必要/);
  await shot(alice, '104-access-locked-ja');
});
