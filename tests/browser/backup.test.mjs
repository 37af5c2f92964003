// Backup codes in real headless Chromium: a manager pastes a generation as the platform shows
// it, checks out codes (shown once), reports outcomes, verifies typed codes with hints, and
// sees the low-codes warning. Screenshots go to tests/browser/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, signIn, shot, pageFor } from './harness.mjs';

// As Google shows them: two numbered columns, a space inside each code.
const BLOCK = `1. 8364 2091     4. 5520 7318
2. 1947 6625     5. 3089 4456
3. 7203 9184     6. 6631 0572`;
const IN_ORDER = ['8364 2091', '1947 6625', '7203 9184', '5520 7318', '3089 4456', '6631 0572'];

let stack;
let accountId;
let page;

before(async () => {
  stack = await startStack();
  const manager = stack.token('manager', 'marketing');
  const created = await stack.api('POST', '/api/v1/accounts', manager, {
    team: 'marketing', platform: 'youtube', handle: '@keyward_channel',
  });
  assert.equal(created.status, 201);
  accountId = created.body.id;
  page = await pageFor(stack, 'mia');
});

after(async () => {
  await stack?.stop();
});

const chipStates = async () =>
  page.getByTestId('positions').locator('li').evaluateAll((items) => items.map((li) => li.dataset.state));

test('an empty account invites an import, and a pasted block is imported in list order', async () => {
  await page.goto(`${stack.base}/accounts/${accountId}`);
  assert.ok(await page.getByTestId('backup-none').isVisible());
  await shot(page, '10-backup-empty');
  // Sent empty: the form says what to do, beside itself.
  await page.getByTestId('import').click();
  const refused = page.getByTestId('import-details').getByTestId('import-error');
  assert.equal(await refused.textContent(), 'Paste the backup codes the platform shows (the whole block) before importing.');
  await page.getByTestId('import-block').fill(BLOCK);
  await page.getByTestId('import-issued-on').fill('2025-12-16');
  await page.getByTestId('import').click();
  // Six codes where YouTube gives ten: imported, with a hint from the platform catalog.
  assert.equal(await page.getByTestId('backup-notice').textContent(), 'Generation 1 imported: 6 codes. YouTube (Google account) usually gives 10 codes, and 6 were imported. Check that none were missed.');
  assert.match(await page.getByTestId('generation-summary').textContent(), /Generation 1 · issued 2025-12-16 · left 6 \/ 6/);
  assert.deepEqual(await chipStates(), Array(6).fill('unused'));
  assert.equal(await page.locator('body').textContent().then((t) => t.includes('8364')), false, 'no code is on the page');
  await shot(page, '11-backup-imported');
});

test('check-out shows the next code once; outcomes mark it used or rejected', async () => {
  await page.getByTestId('backup-justification').fill('locked out after phone reset');
  await page.getByTestId('checkout').click();
  assert.equal(await page.getByTestId('backup-code').textContent(), IN_ORDER[0]);
  assert.equal(await page.getByTestId('position-1').getAttribute('data-state'), 'checked_out');
  assert.match(await page.getByTestId('chip-by-1').textContent(), /^Mia Manager, \d{4}-\d\d-\d\d \d\d:\d\d UTC$/, 'who took it, and when');
  await shot(page, '12-backup-checked-out');
  await page.getByTestId('outcome-worked').click();
  assert.equal(await page.getByTestId('backup-notice').textContent(), 'Marked as used.');
  assert.equal(await page.getByTestId('backup-code').count(), 0, 'the code is not shown again');

  await page.getByTestId('backup-justification').fill('second device sign-in');
  await page.getByTestId('checkout').click();
  assert.equal(await page.getByTestId('backup-code').textContent(), IN_ORDER[1]);
  await page.getByTestId('outcome-rejected').click();
  assert.deepEqual((await chipStates()).slice(0, 3), ['used', 'rejected', 'unused']);
  assert.equal(await page.getByTestId('remaining').textContent(), '4');
});

test('verify says what a typed code is, with hints, without showing other codes', async () => {
  await page.getByTestId('verify-code').fill(' 8364-2091 ');
  await page.getByTestId('verify').click();
  const used = page.getByTestId('verify-result');
  assert.equal(await used.getAttribute('data-status'), 'used');
  assert.equal(await used.getByTestId('verify-typed').textContent(), '8364-2091', 'the answer repeats the code checked');
  assert.match(await used.textContent(), /Already used.*Generation 1 · Position 1/s);
  const hints = await used.locator('[data-hint]').evaluateAll((items) => items.map((li) => li.dataset.hint));
  assert.deepEqual(hints, ['whitespace', 'hyphen']);

  // 7203 9184 typed with a capital B for the 8: found, flagged as look-alike.
  await page.getByTestId('verify-code').fill('7203 91B4');
  await page.getByTestId('verify').click();
  const alike = page.getByTestId('verify-result');
  assert.equal(await alike.getAttribute('data-status'), 'unused');
  assert.match(await alike.textContent(), /Position 3/);
  assert.deepEqual(await alike.locator('[data-hint]').evaluateAll((i) => i.map((li) => li.dataset.hint)), ['ambiguous_characters']);
  await shot(page, '13-backup-verified');

  await page.getByTestId('verify-code').fill('0000 0000');
  await page.getByTestId('verify').click();
  assert.equal(await page.getByTestId('verify-result').getAttribute('data-status'), 'unknown');
});

test('running low shows the warning, and a pending check-out can be reported later', async () => {
  await page.getByTestId('backup-justification').fill('posting from the studio');
  await page.getByTestId('checkout').click();
  assert.equal(await page.getByTestId('backup-code').textContent(), IN_ORDER[2]);
  assert.ok(await page.getByTestId('low-codes-warning').isVisible());
  const left = await page.getByTestId('remaining').textContent();
  // A reload of the result page shows the code no more and takes no second code.
  await page.reload();
  assert.equal(await page.getByTestId('backup-code').count(), 0, 'shown once');
  assert.ok(await page.getByTestId('shown-once').isVisible());
  assert.equal(await page.getByTestId('remaining').textContent(), left, 'no second code was taken');
  await page.goto(`${stack.base}/accounts/${accountId}`);
  assert.ok(await page.getByTestId('low-codes-warning').isVisible());
  const pending = page.getByTestId('pending');
  assert.match(await pending.textContent(), /Position 3/);
  await shot(page, '14-backup-low-codes');
  await pending.getByRole('button', { name: 'It worked' }).click();
  assert.equal(await page.getByTestId('position-3').getAttribute('data-state'), 'used');
  assert.equal(await page.getByTestId('pending').count(), 0);

  // The API agrees with what the page showed.
  const manager = stack.token('manager', 'marketing');
  const status = await stack.api('GET', `/api/v1/accounts/${accountId}/backup-codes`, manager);
  assert.deepEqual(status.body.codes.map((c) => c.state), ['used', 'rejected', 'used', 'unused', 'unused', 'unused']);
  assert.deepEqual(status.body.warnings, ['low_backup_codes']);
});

test('an auditor follows the account to its history and sees every step, chained', async () => {
  const context = await stack.browser.newContext({ locale: 'en-US' });
  const auditor = await context.newPage();
  await signIn(auditor, stack.base, 'olga');
  await auditor.goto(`${stack.base}/accounts/${accountId}`);
  await auditor.getByTestId('account-history').click();
  assert.equal(await auditor.getByTestId('chain-status').getAttribute('data-ok'), 'true');
  const actions = await auditor.getByTestId('event').evaluateAll((rows) => rows.map((r) => r.dataset.action));
  for (const action of ['backup.import', 'backup.checkout', 'backup.result', 'backup.verify']) {
    assert.ok(actions.includes(action), `${action} in ${actions}`);
  }
  assert.equal(await auditor.locator('.pill.bad').count(), 0);
  assert.equal((await auditor.locator('body').textContent()).includes('8364'), false, 'no code in the trail');
  // People and accounts by name, not by id.
  const checkout = auditor.locator('[data-testid=event][data-action="backup.checkout"]').first();
  assert.equal(await checkout.locator('[data-testid^=actor-]').textContent(), 'Mia Manager');
  assert.equal(await checkout.locator('[data-testid^=target-]').textContent(), 'YouTube @keyward_channel');
  // The account can be named by its handle instead of its id.
  await auditor.goto(`${stack.base}/audit?account=${encodeURIComponent('@keyward_channel')}`);
  const byHandle = await auditor.getByTestId('event').evaluateAll((rows) => rows.map((r) => r.dataset.action));
  assert.ok(byHandle.includes('backup.checkout'), `${byHandle}`);
  await auditor.goto(`${stack.base}/audit?account=${encodeURIComponent('@nobody_here')}`);
  assert.match(await auditor.getByTestId('audit-error').textContent(), /no account has the handle @nobody_here/);
  assert.equal(await auditor.getByTestId('event').count(), 0, 'nothing rather than everything');
  await shot(auditor, '15-audit-history');
  await context.close();
});
