// The account life cycle in real headless Chromium, without curl: a manager adds an account,
// edits its details, stores a password and sees it once (hidden again by itself), freezes
// and unfreezes it, and archives it. Screenshots go to tests/browser/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, shot, pageFor } from './harness.mjs';

let stack;
let page;
let accountUrl;

before(async () => {
  stack = await startStack();
  page = await pageFor(stack, 'mia');
});

after(async () => {
  await stack?.stop();
});

test('a manager adds an account from the accounts page', async () => {
  await page.goto(`${stack.base}/accounts`);
  assert.ok(await page.getByTestId('empty-no-accounts').isVisible());
  await page.getByTestId('add-platform').selectOption('instagram');
  await page.getByTestId('add-handle').fill('@keyward_brand');
  await page.getByTestId('add-login-url').fill('https://www.instagram.com/accounts/login/');
  await shot(page, '80-add-account');
  await Promise.all([page.waitForURL(/\/accounts\/[0-9a-f-]{36}$/), page.getByTestId('add-account-submit').click()]);
  accountUrl = page.url();
  assert.equal(await page.getByTestId('account-handle').textContent(), '@keyward_brand');
});

test('the accounts list finds an account by part of its handle', async () => {
  await page.goto(`${stack.base}/accounts`);
  await page.getByTestId('account-search').fill('KEYWARD');
  await page.getByTestId('account-search-button').click();
  assert.equal(await page.getByTestId('account-link').count(), 1);
  await page.getByTestId('account-search').fill('nobody-has-this');
  await page.getByTestId('account-search-button').click();
  assert.ok(await page.getByTestId('search-empty').isVisible());
  await page.goto(accountUrl);
});

test('its details are edited, and it is frozen and unfrozen', async () => {
  await page.getByTestId('edit-notes').fill('Brand account; posting calendar in the team drive');
  await page.getByTestId('edit-save').click();
  assert.equal(await page.getByTestId('store-notice').textContent(), 'Saved.');
  assert.equal(await page.getByTestId('edit-notes').inputValue(), 'Brand account; posting calendar in the team drive');
  await page.getByTestId('freeze').click();
  assert.equal(await page.getByTestId('store-notice').textContent(), 'The account is frozen.');
  assert.ok(await page.getByTestId('unfreeze').isVisible());
  await page.getByTestId('unfreeze').click();
  assert.equal(await page.getByTestId('store-notice').textContent(), 'The account is active again.');
});

test('a stored password is shown once, then hidden again', async () => {
  await page.getByTestId('new-password').fill('Corr3ct-Horse-Battery');
  await page.getByTestId('store-password').click();
  await page.getByTestId('password-justification').fill('updating the bio on desktop');
  await page.getByTestId('password-reveal').click();
  assert.equal(await page.getByTestId('password-value').textContent(), 'Corr3ct-Horse-Battery');
  await shot(page, '81-password-shown');
  await page.reload();
  assert.equal(await page.getByTestId('password-value').count(), 0, 'a reload does not show it again');
});

test("role chips are in the page's language", async () => {
  await page.goto(`${stack.base}/accounts`);
  assert.match(await page.locator('.pill').first().textContent(), /^manager @ marketing$/);
  await page.getByTestId('language-switch').click();
  assert.match(await page.locator('.pill').first().textContent(), /^マネージャー @ marketing$/);
  await page.getByTestId('language-switch').click();
});

test('the account is archived and leaves the list', async () => {
  await page.goto(accountUrl);
  await page.locator('#details details summary').click();
  await Promise.all([page.waitForURL(`${stack.base}/accounts`), page.getByTestId('archive').click()]);
  assert.equal(await page.getByTestId('account-link').count(), 0);
});
