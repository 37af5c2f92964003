// Break-glass in real headless Chromium: a custodian enrols her own age key, a security admin
// names three members as custodians (and gets no share), each custodian fetches their own
// share once (one encrypted to her key, opened with the reference `age`; one in Japanese) and
// confirms it, the escrow becomes active, the admin asks for a release, custodians submit
// shares on the public page (no sign-in, with who asked and why shown), the admin's browser —
// the one holding the release key — reads the released password, and the escrow is retired.
// Screenshots go to tests/browser/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, shot, pageFor as harnessPageFor } from './harness.mjs';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let stack;
let sam;
let escrowUrl;
let aliceKey;
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

test('custodians are members: one enrols her own age key', async () => {
  // alice, mia and olga sign in once (that makes them members); alice enrols her own key.
  for (const user of ['mia', 'olga']) {
    const page = await pageFor(user);
    await page.context().close();
  }
  const dir = mkdtempSync(join(tmpdir(), 'kw-age-'));
  aliceKey = join(dir, 'alice.key');
  execFileSync('age-keygen', ['-o', aliceKey], { stdio: 'ignore' });
  const recipient = execFileSync('age-keygen', ['-y', aliceKey]).toString().trim();
  const alice = await pageFor('alice');
  await alice.goto(`${stack.base}/escrows`);
  assert.ok(await alice.getByTestId('my-key-none').isVisible());
  await alice.getByTestId('my-key-input').fill(recipient);
  await alice.getByTestId('my-key-save').click();
  await alice.waitForURL(/\/escrows/);
  assert.equal(await alice.getByTestId('my-key-current').textContent(), recipient);
  await shot(alice, '39-my-break-glass-key');
  await alice.context().close();
});

test('a security admin names the custodians and gets no share', async () => {
  await sam.getByTestId('nav-breakglass').click();
  assert.ok(await sam.getByTestId('escrows-empty').isVisible());
  await sam.getByTestId('escrow-name').fill('marketing break-glass');
  await sam.getByTestId('escrow-teams').fill('marketing');
  await sam.getByTestId('escrow-threshold').fill('2');
  // A key given by the operator is refused: custodians enrol their own.
  await sam.getByTestId('escrow-custodians').fill('alice@example.com age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq\nmia@example.com');
  await sam.getByTestId('escrow-create').click();
  assert.match(await sam.getByTestId('escrow-error').textContent(), /enrol their own age key/);
  await sam.getByTestId('escrow-name').fill('marketing break-glass');
  await sam.getByTestId('escrow-teams').fill('marketing');
  await sam.getByTestId('escrow-custodians').fill('alice@example.com\nmia@example.com\nolga@example.com');
  await sam.getByTestId('escrow-waiting').fill('0');
  await sam.getByTestId('escrow-create').click();
  await sam.waitForURL(/\/escrows\/[^/?]+$/);
  escrowUrl = sam.url();
  assert.equal(await sam.getByTestId('escrow-title').textContent(), 'marketing break-glass');
  assert.equal(await sam.getByTestId('custodians').locator('tr').count(), 3);
  assert.ok(await sam.getByTestId('escrow-pending').isVisible());
  assert.doesNotMatch(await sam.locator('body').textContent(), /kwshare1-|AGE ENCRYPTED/);
  assert.equal(await sam.getByTestId('pickup').count(), 0, 'the admin is not a custodian');
  await shot(sam, '40-escrow-pending');
});

test('each custodian fetches their own share once and confirms it; then the escrow is active', async () => {
  for (const [user, locale] of [['alice', 'en-US'], ['mia', 'en-US'], ['olga', 'ja-JP']]) {
    const page = await pageFor(user, locale);
    await page.goto(escrowUrl);
    if (locale === 'ja-JP') {
      assert.match(await page.locator('#confirm-share h2').textContent(), /分割鍵を確認/);
    }
    await page.getByTestId('pickup').click();
    let share;
    if (user === 'alice') {
      const armored = await page.getByTestId('share-armored').textContent();
      assert.match(armored, /BEGIN AGE ENCRYPTED FILE/);
      share = execFileSync('age', ['-d', '-i', aliceKey], { input: armored }).toString();
      await shot(page, '41-share-encrypted-to-her-key');
    } else {
      share = await page.getByTestId('share-text').textContent();
    }
    assert.match(share, /^kwshare1-/);
    shares.push(share);
    await page.reload();
    assert.ok(await page.getByTestId('shown-once').isVisible(), 'the share is not shown again');
    assert.equal(await page.getByTestId('pickup').count(), 0);
    await page.goto(escrowUrl);
    await page.getByTestId('confirm-share').fill(share);
    await page.getByTestId('confirm').click();
    await page.waitForURL(escrowUrl);
    assert.equal(await page.getByTestId('confirm').count(), 0, 'confirmed once');
    if (locale === 'ja-JP') await shot(page, '41b-share-confirmed-ja');
    await page.context().close();
  }
  await sam.goto(escrowUrl);
  assert.equal(await sam.getByTestId('escrow-state').textContent(), 'active');
  assert.equal(await sam.getByTestId('custodian-confirmed').filter({ hasText: 'not confirmed' }).count(), 0);
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
  await anonymous.goto(submitUrl);
  assert.match(await anonymous.getByTestId('release-reason-shown').textContent(), /IdP outage/);
  assert.ok((await anonymous.getByTestId('release-requester').textContent()).length > 0);
  for (const share of shares.slice(0, 2)) {
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

test('the security admin retires the escrow', async () => {
  await sam.goto(escrowUrl);
  await sam.getByTestId('retire-reason').fill('new ceremony after the drill');
  await sam.getByTestId('retire').click();
  await sam.waitForURL(escrowUrl);
  assert.ok(await sam.getByTestId('escrow-retired').isVisible());
  assert.equal(await sam.getByTestId('retire').count(), 0);
  await shot(sam, '44-escrow-retired');
});
