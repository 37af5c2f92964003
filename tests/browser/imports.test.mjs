// Importing a team's seeds in real headless Chromium: a manager picks a 2FAS backup file,
// previews what would happen (no seed on the page), changes one entry to skip, imports, and
// the new accounts reveal the codes an authenticator would show. Screenshots go to
// tests/browser/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, shot, totpWindow, pageFor } from './harness.mjs';

const SEEDS = [
  ['Instagram', 'brand', 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'],
  ['X', 'brand_jp', 'MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U'],
  ['TikTok', 'brand_tt', 'KRUGKIDROVUWG2ZAMJZG653OEBTG66BA'],
];
const BACKUP = JSON.stringify({
  services: SEEDS.map(([issuer, name, secret]) => ({
    name: issuer, secret, updatedAt: 1700000000000,
    otp: { label: name, account: name, issuer, digits: 6, period: 30, algorithm: 'SHA1', tokenType: 'TOTP', source: 'Link' },
    order: { position: 0 },
  })),
  groups: [], schemaVersion: 4,
});

let stack;
let page;

before(async () => {
  stack = await startStack();
  page = await pageFor(stack, 'mia');
});

after(async () => {
  await stack?.stop();
});

test('a manager previews a 2FAS backup: what would happen, and no seed on the page', async () => {
  await Promise.all([page.waitForURL('**/imports'), page.getByTestId('nav-imports').click()]);
  await page.getByTestId('format-2fas').check();
  await shot(page, '70-import-form');
  await page.getByTestId('import-file').setInputFiles({ name: 'backup.2fas', mimeType: 'application/json', buffer: Buffer.from(BACKUP) });
  await page.waitForFunction(() => document.querySelector('[data-testid=import-file-data]').value.includes('services'));
  assert.equal(await page.getByTestId('import-data').inputValue(), '', 'the file is not shown on the page');
  await page.getByTestId('import-team').fill('marketing');
  await Promise.all([page.waitForURL('**/imports/preview'), page.getByTestId('import-preview-button').click()]);
  await shot(page, '71-import-preview');
  const rows = page.getByTestId('import-entry');
  assert.equal(await rows.count(), 3);
  assert.equal(await page.getByTestId('entry-action-0').inputValue(), 'create');
  assert.equal(await page.getByTestId('entry-handle-1').inputValue(), 'brand_jp');
  const body = await page.locator('body').textContent();
  const html = await page.content();
  for (const [, , seed] of SEEDS) {
    assert.equal(body.includes(seed) || html.includes(seed), false, 'no seed is on the preview');
  }
});

test('the import stores what was decided, once, and the codes are right', async () => {
  await page.getByTestId('entry-action-2').selectOption('skip');
  await Promise.all([page.waitForURL(/\/imports\?done=/), page.getByTestId('import-apply').click()]);
  assert.equal(await page.getByTestId('import-summary').textContent(), 'Imported: 2 seeds stored, 2 accounts created, 1 skipped.');
  await shot(page, '72-import-done');
  const links = page.getByTestId('import-account-link');
  assert.equal(await links.count(), 2);
  const first = await links.first().getAttribute('href');
  await page.reload();
  assert.equal(await page.getByTestId('import-summary').count(), 0, 'a reload shows the summary no more and repeats nothing');
  await page.goto(`${stack.base}${first}`);
  assert.equal(await page.getByTestId('account-handle').textContent(), 'brand');
  await page.getByTestId('justification').fill('import check');
  await page.getByTestId('reveal').click();
  const code = await page.getByTestId('totp-code').getAttribute('data-code');
  assert.ok(totpWindow(SEEDS[0][2]).includes(code), `${code} is the imported seed's code`);
});

test('the import page speaks Japanese too', async () => {
  await page.goto(`${stack.base}/imports`);
  await page.getByTestId('language-switch').click();
  assert.equal(await page.locator('h1').textContent(), 'シードのインポート');
  await page.getByTestId('language-switch').click();
});

test('a seed is stored from a QR screenshot on the account page, which then shows its code', async () => {
  const QRCode = (await import('qrcode')).default;
  const manager = stack.token('manager', 'marketing');
  const created = await stack.api('POST', '/api/v1/accounts', manager, { team: 'marketing', platform: 'instagram', handle: '@from_qr' });
  assert.equal(created.status, 201);
  const seed = 'OBQXG43XN5ZGIZDBORQWEYLTMVZWK3TEMFZWS3DM';
  const png = await QRCode.toBuffer(`otpauth://totp/Instagram:from_qr?secret=${seed}&issuer=Instagram`, { type: 'png', width: 360, margin: 4 });
  await page.goto(`${stack.base}/accounts/${created.body.id}`);
  const help = await page.getByTestId('enroll-help').textContent();
  assert.match(help, /Instagram/);
  assert.match(help, /Accounts Center → Password and security → Two-factor authentication/, "the catalog says where Instagram turns on an authenticator app");
  assert.equal(await page.getByTestId('sign-in-link').getAttribute('href'), 'https://www.instagram.com/accounts/login/', "the catalog's sign-in page, for an account without its own");
  await page.getByTestId('qr-file').setInputFiles({ name: 'instagram-2fa.png', mimeType: 'image/png', buffer: png });
  await page.waitForFunction(() => document.querySelector('[data-testid=qr-image]').value.length > 100);
  assert.ok(await page.locator('[data-image-ready]').isVisible(), 'the page says the screenshot is ready');
  await Promise.all([page.waitForURL(/shown=/), page.getByTestId('store-seed').click()]);
  assert.match(await page.getByTestId('store-notice').textContent(), /stored/i);
  const code = await page.getByTestId('totp-code').getAttribute('data-code');
  assert.ok(totpWindow(seed).includes(code), `${code} is the screenshot's seed's code, to finish enrolling`);
  const next = (await page.getByTestId('next-code').textContent()).replace(/\s/g, '');
  assert.ok(totpWindow(seed).includes(next) && next !== code, 'the next code is shown beside it, for platforms that ask for two');
  await shot(page, '73-seed-from-qr');
  // Then the backup codes: the page asks for them, with what Instagram gives and where.
  assert.match(await page.getByTestId('enroll-next').textContent(), /backup codes/);
  assert.equal(await page.getByTestId('import-details').getAttribute('open'), '', 'the import form is open');
  assert.match(await page.getByTestId('backup-help').textContent(), /Instagram usually gives 5 backup codes: 8 digits each/);
  await page.getByTestId('import-block').fill('1234 5678\n2345 6789\n3456 7890\n4567 8901');
  await shot(page, '74-backup-codes-after-enrollment');
  await page.getByTestId('import').click();
  assert.match(await page.getByTestId('backup-notice').textContent(), /Instagram usually gives 5 codes, and 4 were imported\. Check that none were missed\./);
});

test('the preview imports one entry at a time, and the rest waits', async () => {
  const one = SEEDS.map(([issuer, name, secret]) => `otpauth://totp/${issuer}:${name}_one?secret=${secret}&issuer=${issuer}`).join('\n');
  await page.goto(`${stack.base}/imports`);
  await page.getByTestId('format-otpauth').check();
  await page.getByTestId('import-data').fill(one);
  await page.getByTestId('import-team').fill('marketing');
  await Promise.all([page.waitForURL('**/imports/preview'), page.getByTestId('import-preview-button').click()]);
  await Promise.all([page.waitForURL(/pending=/), page.getByTestId('import-one-1').click()]);
  assert.match(await page.getByTestId('import-summary').textContent(), /1 seed stored, 1 account created/);
  assert.equal(await page.getByTestId('import-one-1').count(), 0, 'the entry just stored is no longer offered');
  assert.equal(await page.getByTestId('entry-action-1').inputValue(), 'skip');
  await shot(page, '75-import-one-at-a-time');
  await Promise.all([page.waitForURL(/\/imports\?done=[^&]+$/), page.getByTestId('import-apply').click()]);
  assert.match(await page.getByTestId('import-summary').textContent(), /2 seeds stored/);
});
