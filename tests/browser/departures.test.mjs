// Departures the IdP implies, in real headless Chromium: with `on_groups_lost = "review"`,
// the IdP administrator takes alice out of her groups (tests/oidc/provider.mjs reads
// GROUPS_FILE at each sign-in); her next sign-in is refused and a review opens; a security
// admin sees "needs review" on the Members page, in English and in Japanese, and keeps her.
// Screenshots go to tests/browser/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startStack, shot, signIn, pageFor as harnessPageFor } from './harness.mjs';

let stack;
let groupsFile;
const pageFor = (user, locale = 'en-US') => harnessPageFor(stack, user, { locale });
const setGroups = (groups) => writeFileSync(groupsFile, JSON.stringify(groups));

before(async () => {
  groupsFile = path.join(mkdtempSync(path.join(tmpdir(), 'keyward-groups-')), 'groups.json');
  setGroups({});
  // The provider runs in this process: it reads the variable at each sign-in.
  process.env.GROUPS_FILE = groupsFile;
  stack = await startStack({ extraConfig: '[offboarding]\non_groups_lost = "review"\n' });
});

after(async () => {
  delete process.env.GROUPS_FILE;
  await stack?.stop();
});

test('alice loses her groups at the IdP: her next sign-in is refused and a review opens', async () => {
  const alice = await pageFor('alice');
  await alice.goto(`${stack.base}/accounts`);
  assert.equal(new URL(alice.url()).pathname, '/accounts', 'signed in while her groups give a role');
  setGroups({ alice: [] });
  const again = await pageFor(null);
  await signIn(again, stack.base, 'alice');
  const text = await again.locator('body').textContent();
  assert.match(text, /security admin will review your access/);
  await shot(again, '90-groups-lost-refused');
  // Her earlier session has ended too.
  await alice.goto(`${stack.base}/accounts`);
  assert.notEqual(new URL(alice.url()).pathname, '/accounts');
});

test('a security admin keeps her from the Members page, and the page says so in Japanese too', async () => {
  const ja = await pageFor('sam', 'ja-JP');
  await ja.goto(`${stack.base}/members`);
  assert.match(await ja.getByTestId('member-review').first().textContent(), /要確認：IdPのグループ喪失/);
  await shot(ja, '91-members-review-ja');

  const sam = await pageFor('sam');
  await sam.goto(`${stack.base}/members`);
  const row = sam.getByTestId('member-row').filter({ has: sam.getByTestId('member-review') });
  assert.match(await row.getByTestId('member-review').textContent(), /needs review: IdP groups lost/);
  await row.getByTestId('member-link').click();
  assert.ok(await sam.getByTestId('review').isVisible());
  await shot(sam, '92-member-review');
  await sam.getByTestId('review-reason').fill('moved to the sales team; groups come back tomorrow');
  await Promise.all([sam.waitForURL(/\/members\/[^/]+$/), sam.getByTestId('review-keep').click()]);
  assert.equal(await sam.getByTestId('review').count(), 0, 'the review is decided');
  await sam.reload();
  assert.equal(await sam.getByTestId('review').count(), 0, 'a reload repeats nothing');

  // Once the IdP gives her groups back, she signs in again.
  setGroups({ alice: ['sns-marketing'] });
  const alice = await pageFor('alice');
  await alice.goto(`${stack.base}/accounts`);
  assert.equal(new URL(alice.url()).pathname, '/accounts');
});
