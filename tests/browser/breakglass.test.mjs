// Break-glass in real headless Chromium: a security admin runs the ceremony from the
// dashboard, two custodians pick up their shares once, the admin asks for a release, the
// custodians submit their shares on the public page (no sign-in), and the admin's browser —
// the one holding the release key — reads the released password. Screenshots go to
// tests/browser/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, shot, pageFor as harnessPageFor } from './harness.mjs';

let stack;
let sam;
let escrowUrl;
const shares = [];

const pageFor = (user, locale = 'en-US') => harnessPageFor(stack, user, { locale });

before(async () => {
  stack = await startStack();
  const manager = stack.token('manager', 'marketing');
  const created = await stack.api('POST', '/api/v1/accounts', manager, { team: 'marketing', platform: 'instagram', handle: '@glass' });
  assert.equal(created.status, 201);
  const stored = await stack.api('PUT', `/api/v1/accounts/${created.body.id}/password`, manager, { password: 'behind the glass' });
  assert.equal(stored.status, 201);
  sam = await pageFor('sam');
});

after(async () => {
  await stack?.stop();
});

test('a security admin runs the ceremony from the dashboard', async () => {
  await sam.getByTestId('nav-breakglass').click();
  assert.ok(await sam.getByTestId('escrows-empty').isVisible());
  await sam.getByTestId('escrow-name').fill('marketing break-glass');
  await sam.getByTestId('escrow-teams').fill('marketing');
  await sam.getByTestId('escrow-threshold').fill('2');
  await sam.getByTestId('escrow-custodians').fill('alice@example.com\nmia@example.com\nolga@example.com');
  await sam.getByTestId('escrow-create').click();
  await sam.waitForURL(/\/escrows\/[^/?]+/);
  escrowUrl = sam.url().split('?')[0];
  assert.equal(await sam.getByTestId('escrow-title').textContent(), 'marketing break-glass');
  assert.equal(await sam.getByTestId('custodians').locator('tr').count(), 3);
  await shot(sam, '40-escrow-created');
});

test('each custodian picks up their share once', async () => {
  for (const user of ['alice', 'mia']) {
    const page = await pageFor(user);
    await page.goto(escrowUrl);
    await page.getByTestId('pickup').click();
    const share = await page.getByTestId('share-text').textContent();
    assert.match(share, /^kwshare1-/);
    shares.push(share);
    if (user === 'alice') await shot(page, '41-share-picked-up');
    await page.reload();
    assert.ok(await page.getByTestId('shown-once').isVisible(), 'the share is not shown again');
    assert.equal(await page.getByTestId('pickup').count(), 0);
    await page.context().close();
  }
});

test('a release collects shares on the public page and opens for the requester', async () => {
  await sam.goto(escrowUrl);
  await sam.getByTestId('release-reason').fill('IdP outage, launch post due');
  await sam.getByTestId('release-request').click();
  await sam.waitForURL(/\/releases\/[^/]+$/);
  const releaseUrl = sam.url();
  assert.equal(await sam.getByTestId('release-state').getAttribute('data-state'), 'collecting');
  const submitUrl = `${releaseUrl}/submit`;
  // Custodians need no sign-in: a fresh browser, no session.
  const anonymous = await pageFor(null);
  for (const share of shares) {
    await anonymous.goto(submitUrl);
    await anonymous.getByTestId('share-input').fill(share.toUpperCase());
    await anonymous.getByTestId('share-submit').click();
    assert.ok(await anonymous.getByTestId('share-accepted').isVisible());
  }
  await anonymous.goto(submitUrl);
  await anonymous.getByTestId('share-input').fill(shares[0]);
  await anonymous.getByTestId('share-submit').click();
  assert.ok(await anonymous.getByTestId('share-error').isVisible(), 'the release takes no more shares');
  await shot(anonymous, '42-share-submit');
  await sam.goto(releaseUrl);
  assert.equal(await sam.getByTestId('release-state').getAttribute('data-state'), 'released');
  await sam.getByTestId('open-secrets').click();
  assert.equal(await sam.getByTestId('released-password').textContent(), 'behind the glass');
  await shot(sam, '43-released-secrets');
  // Another signed-in browser of the same admin does not hold the release key.
  const other = await pageFor('sam');
  await other.goto(`${releaseUrl}/secrets`);
  assert.match(await other.locator('body').textContent(), /does not hold the release key/);
});
