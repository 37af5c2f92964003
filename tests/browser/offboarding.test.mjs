// Offboarding in real headless Chromium: an operator checks out a backup code; a security admin
// previews that exposure and offboards her (her open session ends at once); a manager finds the
// rotation task with X's own steps, imports a new generation, and the task closes; a manual TOTP
// task closes when a new seed is stored, which shows its current code. Screenshots go to
// tests/browser/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, shot, totpWindow, pageFor as harnessPageFor } from './harness.mjs';

const SEED = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
const NEW_BLOCK = `1. 4410 2288\n2. 9031 5567\n3. 1184 7720\n4. 6502 3349`;

let stack;
let accountId;
let alice;
let sam;
let mia;

const pageFor = (user, locale = 'en-US') => harnessPageFor(stack, user, { locale });

before(async () => {
  stack = await startStack();
  const manager = stack.token('manager', 'marketing');
  const created = await stack.api('POST', '/api/v1/accounts', manager, { team: 'marketing', platform: 'x', handle: '@brand_x' });
  assert.equal(created.status, 201);
  accountId = created.body.id;
  const imported = await stack.api('POST', `/api/v1/accounts/${accountId}/backup-codes`, manager, {
    codes: ['1111 2222', '3333 4444', '5555 6666', '7777 8888', '9999 0000'], issued_on: '2025-12-16',
  });
  assert.equal(imported.status, 201);
  alice = await pageFor('alice');
  sam = await pageFor('sam');
  mia = await pageFor('mia');
});

after(async () => {
  await stack?.stop();
});

test('an operator checks out a code, which the security admin sees as her exposure', async () => {
  await alice.goto(`${stack.base}/accounts/${accountId}`);
  await alice.getByTestId('backup-justification').fill('campaign post, phone not at hand');
  await alice.getByTestId('checkout').click();
  assert.equal(await alice.getByTestId('backup-code').textContent(), '1111 2222');

  await sam.goto(`${stack.base}/accounts`);
  await sam.getByTestId('nav-members').click();
  await sam.getByTestId('member-link').filter({ hasText: 'Alice Operator' }).click();
  const rows = sam.getByTestId('exposure-row');
  assert.equal(await rows.count(), 1);
  assert.match(await rows.first().textContent(), /Backup code #1.*checked out, not used/s);
  await shot(sam, '30-offboard-preview');
});

test('offboarding ends her session at once and the report lists the task', async () => {
  await sam.getByTestId('offboard-reason').fill('left the agency');
  await sam.getByTestId('offboard').click();
  await sam.waitForURL(/\/members\/[^/]+\/report$/);
  assert.equal(await sam.getByTestId('report-reason').textContent(), 'left the agency');
  assert.equal(await sam.getByTestId('report-sessions').textContent(), '1');
  assert.equal(await sam.getByTestId('report-summary').textContent(), '1 / 0 / 0 / 0');
  const task = sam.getByTestId('report-tasks').getByTestId('task');
  assert.equal(await task.count(), 1);
  assert.equal(await task.getAttribute('data-kind'), 'backup_codes');
  await shot(sam, '31-offboarding-report');
  // Reloading the report repeats nothing.
  await sam.reload();
  assert.equal(await sam.getByTestId('report-tasks').getByTestId('task').count(), 1);

  await alice.goto(`${stack.base}/accounts/${accountId}`);
  assert.match(alice.url(), /\/signin/, 'her open session is refused');
});

test('a manager sees the task with the platform steps, imports new codes, and the task closes', async () => {
  await mia.goto(`${stack.base}/accounts`);
  const flag = mia.getByTestId('rotation-flag');
  assert.match(await flag.textContent(), /rotation due/);
  await mia.getByTestId('nav-tasks').click();
  assert.equal(await mia.getByTestId('tab-mine').getAttribute('aria-current'), 'page');
  const task = mia.getByTestId('tasks').getByTestId('task');
  assert.equal(await task.count(), 1);
  await task.getByTestId('task-steps').locator('summary').click();
  assert.match(await task.getByTestId('task-steps').textContent(), /Two-factor authentication → Backup codes/);
  await shot(mia, '32-rotation-tasks');
  await task.getByTestId('task-complete').click();
  await mia.waitForURL(/#backup$/);
  assert.ok(await mia.getByTestId('account-rotation').isVisible(), 'the account page says a rotation is due');
  await mia.getByTestId('import-block').fill(NEW_BLOCK);
  await mia.getByTestId('import').click();
  assert.match(await mia.getByTestId('backup-notice').textContent(), /Generation 2 imported/);
  assert.equal(await mia.getByTestId('account-rotation').count(), 0, 'nothing is due any more');
  await mia.goto(`${stack.base}/rotation-tasks?view=closed`);
  const closed = mia.getByTestId('tasks').getByTestId('task');
  assert.equal(await closed.getAttribute('data-state'), 'done');
  assert.match(await closed.textContent(), /closed by storing version 2/);
  await shot(mia, '33-rotation-closed');
});

test('storing a new seed from a manual task closes it and shows the code to finish enrollment', async () => {
  const manager = stack.token('manager', 'marketing');
  const opened = await stack.api('POST', '/api/v1/rotation-tasks', manager, { account: accountId, kind: 'totp' });
  assert.equal(opened.status, 201);
  await mia.goto(`${stack.base}/rotation-tasks`);
  const task = mia.getByTestId('tasks').getByTestId('task');
  assert.equal(await task.getAttribute('data-kind'), 'totp');
  await task.getByTestId('task-complete').click();
  await mia.getByTestId('new-seed').fill(SEED.toLowerCase().replace(/(.{4})/g, '$1 '));
  await mia.getByTestId('store-seed').click();
  assert.match(await mia.getByTestId('store-notice').textContent(), /New seed stored \(version 1\)\. 1 rotation task closed\./);
  const shown = await mia.getByTestId('totp-code').getAttribute('data-code');
  assert.ok(totpWindow(SEED).includes(shown), `${shown} is a code of the stored seed`);
  await shot(mia, '34-seed-stored');
  await mia.reload();
  assert.ok(await mia.getByTestId('shown-once').isVisible(), 'a reload shows the code no more');
  await mia.goto(`${stack.base}/rotation-tasks`);
  assert.ok(await mia.getByTestId('tasks-empty').isVisible());
});

test('the rotation page speaks Japanese with the platform steps in Japanese', async () => {
  const manager = stack.token('manager', 'marketing');
  await stack.api('POST', '/api/v1/rotation-tasks', manager, { account: accountId, kind: 'password' });
  await mia.goto(`${stack.base}/rotation-tasks`);
  await mia.getByTestId('language-switch').click();
  assert.equal(await mia.locator('h1').textContent(), 'ローテーションタスク');
  const task = mia.getByTestId('tasks').getByTestId('task');
  await task.getByTestId('task-steps').locator('summary').click();
  assert.match(await task.getByTestId('task-steps').textContent(), /パスワードを変更する/);
  await shot(mia, '35-rotation-tasks-ja');
});
