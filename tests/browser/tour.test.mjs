// The dashboard as a new team first meets it (issue 30): the account page puts the code first
// and a first enrollment reads as one, with the new seed's code beside its confirmation; the
// forms look alike (styled selects, one "Add an account" button, placeholders that do not
// look applied); platforms are named as they write themselves; an expired code offers
// *Reveal again* with the reason kept; and no page in Japanese shows an English UI word.
// With KW_DOC_IMAGES=1 it also writes the manual's screenshots to docs/images/
// (docs/dashboard.md; `make doc-images`).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { startStack, pageFor, totpWindow, shot, repoRoot } from './harness.mjs';

const SEED = 'KRUGS4ZANFZSAYLOEBSXQYLNOBWGKIBA';
const CODES = ['1111 2222', '3333 4444', '5555 6666', '7777 8888', '9999 0000'];
const DOC_IMAGES = process.env.KW_DOC_IMAGES === '1' ? path.join(repoRoot, 'docs/images') : null;

let stack;
let manager;
let brandId;

before(async () => {
  stack = await startStack();
  manager = stack.token('manager', 'marketing');
  const created = await stack.api('POST', '/api/v1/accounts', manager, {
    team: 'marketing', platform: 'instagram', handle: '@tour_brand', login_url: 'https://www.instagram.com/accounts/login/', notes: 'The brand account',
  });
  assert.equal(created.status, 201);
  brandId = created.body.id;
  assert.equal((await stack.api('PUT', `/api/v1/accounts/${brandId}/totp`, manager, { secret: SEED })).status, 201);
  const imported = await stack.api('POST', `/api/v1/accounts/${brandId}/backup-codes`, manager, { codes: CODES, issued_on: '2026-11-01' });
  assert.equal(imported.status, 201);
  assert.equal((await stack.api('POST', '/api/v1/accounts', manager, { team: 'marketing', platform: 'tiktok', handle: '@tour_tiktok' })).status, 201);
  if (DOC_IMAGES) mkdirSync(DOC_IMAGES, { recursive: true });
});

after(async () => {
  await stack?.stop();
});

/** The page's element as a picture for the manual, when KW_DOC_IMAGES=1. */
async function docImage(locator, name) {
  if (DOC_IMAGES) await locator.screenshot({ path: path.join(DOC_IMAGES, `${name}.png`) });
}

const cardIds = (page) => page.evaluate(() => [...document.querySelectorAll('main section.card')].map((s) => s.id));
const style = (locator, property, pseudo = null) => locator.evaluate((el, [p, ps]) => getComputedStyle(el, ps)[p], [property, pseudo]);

test('a new account reads as an enrollment, and the stored seed\'s code sits beside the confirmation', async () => {
  const created = await stack.api('POST', '/api/v1/accounts', manager, { team: 'marketing', platform: 'youtube', handle: '@tour_new' });
  assert.equal(created.status, 201);
  const page = await pageFor(stack, 'mia', { viewport: { width: 1280, height: 900 } });
  await page.goto(`${stack.base}/accounts/${created.body.id}`);
  assert.equal(await page.locator('h1 .platform').textContent(), 'YouTube');
  const cards = await cardIds(page);
  assert.equal(cards[0], 'totp', `the code card comes first: ${cards}`);
  assert.equal(cards[1], 'store', `then the enrollment: ${cards}`);
  assert.ok(cards.includes('backup') && cards.indexOf('incidents') > cards.indexOf('backup'), `incidents below the codes: ${cards}`);
  assert.equal(await page.getByTestId('store-title').textContent(), 'Set up two-factor authentication');
  // Freezing is there, but outlined: the filled button of a new account is not the red one.
  assert.equal(await style(page.getByTestId('freeze'), 'backgroundColor'), 'rgb(255, 255, 255)');
  await page.getByTestId('new-seed').fill(SEED);
  await page.getByTestId('store-seed').click();
  const store = page.locator('#store');
  await store.getByTestId('enroll-note').waitFor();
  const code = await store.getByTestId('totp-code').getAttribute('data-code');
  assert.ok(totpWindow(SEED).includes(code), `${code} is a code of the stored seed`);
  assert.equal(await page.locator('#totp').getByTestId('totp-code').count(), 0, 'the code is shown once, beside the confirmation');
  await shot(page, '90-enrollment-code-beside-confirmation');
  await docImage(store, 'enrollment');
  await page.context().close();
});

test('the accounts list names platforms as they do, has one add button, and links the handle only', async () => {
  const page = await pageFor(stack, 'mia', { viewport: { width: 1280, height: 900 } });
  await page.goto(`${stack.base}/accounts`);
  const row = page.getByTestId('accounts').locator('tr', { hasText: '@tour_tiktok' });
  assert.match(await row.textContent(), /TikTok\s+@tour_tiktok/);
  assert.equal((await row.getByTestId('account-link').textContent()).trim(), '@tour_tiktok', 'the underline covers the handle, not the space before it');
  const toggle = page.getByTestId('add-account-toggle');
  await toggle.click();
  const submit = page.getByTestId('add-account-submit');
  assert.notEqual(await style(toggle, 'backgroundColor'), await style(submit, 'backgroundColor'), 'the toggle does not look like the submit button');
  assert.equal(await style(toggle, 'borderTopStyle'), 'none');
  const options = await page.getByTestId('add-platform').locator('option').allTextContents();
  for (const name of ['X', 'Instagram', 'TikTok', 'YouTube', 'LinkedIn', 'GitHub', 'Other']) assert.ok(options.includes(name), `${name} in ${options}`);
  // The select is styled like the text fields (it used to be only inside the audit filters).
  for (const id of ['add-team', 'add-platform']) {
    assert.equal(await style(page.getByTestId(id), 'borderTopLeftRadius'), '8px', id);
    assert.equal(await style(page.getByTestId(id), 'borderTopColor'), await style(page.getByTestId('add-handle'), 'borderTopColor'), id);
  }
  await docImage(page.locator('main'), 'accounts');
  await page.context().close();
});

test('the audit filters: an empty filter shows a light placeholder, and the outcome select is styled', async () => {
  const page = await pageFor(stack, 'sam', { viewport: { width: 1400, height: 900 } });
  await page.goto(`${stack.base}/audit`);
  const action = page.getByTestId('filter-action');
  assert.equal(await style(action, 'fontWeight', '::placeholder'), '400');
  assert.equal(await style(action, 'color', '::placeholder'), 'rgb(107, 115, 133)', 'a lighter grey than typed text');
  assert.equal(await style(action, 'fontWeight'), '400', 'a typed filter is not bold either');
  assert.equal(await style(page.getByTestId('filter-outcome'), 'borderTopLeftRadius'), '8px');
  await page.goto(`${stack.base}/accounts/${brandId}`);
  assert.equal(await style(page.getByTestId('access-policy'), 'borderTopLeftRadius'), '8px');
  await page.context().close();
});

test('an expired code offers Reveal again in place, and the reason typed before goes with it', async () => {
  const page = await pageFor(stack, 'alice', { viewport: { width: 1280, height: 900 } });
  await page.clock.install();
  await page.goto(`${stack.base}/accounts/${brandId}`);
  const reason = 'posting the launch video';
  await page.getByTestId('justification').fill(reason);
  await page.getByTestId('reveal').click();
  const first = await page.getByTestId('totp-code').getAttribute('data-code');
  assert.ok(totpWindow(SEED).includes(first));
  await docImage(page.getByTestId('revealed'), 'reveal-card');
  assert.equal(await page.getByTestId('justification').inputValue(), reason, 'the form keeps the reason');
  assert.equal(await page.getByTestId('reveal-again').count(), 0);
  await page.clock.runFor(31_000);
  const again = page.getByTestId('reveal-again');
  await again.waitFor();
  assert.equal(await again.textContent(), 'Reveal again');
  assert.match(await page.getByTestId('revealed').textContent(), /This code has expired/);
  const before = page.url();
  await Promise.all([page.waitForURL((url) => url.href !== before), again.click()]);
  await page.getByTestId('totp-code').waitFor();
  assert.ok(totpWindow(SEED).includes(await page.getByTestId('totp-code').getAttribute('data-code')));
  assert.equal(await page.getByTestId('reveal-again').count(), 0, 'a fresh code, a fresh countdown');
  // Both reveals were recorded with the reason.
  const audit = await stack.api('GET', `/api/v1/audit?action=totp.reveal&account=${brandId}`, stack.token('security_admin', '*'));
  assert.equal(audit.status, 200);
  const reasons = audit.body.events.filter((e) => e.justification === reason);
  assert.equal(reasons.length, 2, JSON.stringify(audit.body.events.map((e) => e.justification)));
  await page.context().close();
});

// Words of the dashboard's English that a Japanese page must not show. Data (names, handles,
// team slugs, platform names, codes, hashes, action names) is removed before the check.
const ENGLISH = [
  'Account', 'Accounts', 'Audit', 'Reveal', 'Store', 'Save', 'Cancel', 'Sign', 'Members', 'Import', 'Incident',
  'Incidents', 'Backup', 'backup', 'code', 'codes', 'seed', 'success', 'denied', 'failure', 'operator', 'manager',
  'viewer', 'auditor', 'security admin', 'every team', 'enrollment', 'rotation', 'Rotation', 'Team', 'team', 'Status',
  'Next', 'Back', 'Copy', 'Filter', 'Clear', 'any', 'none', 'None', 'the', 'and', 'of', 'to', 'is', 'up to date',
  'retrying', 'delivering', 'Other', 'hidden', 'seconds', 'left', 'used', 'unused', 'active', 'departed', 'open',
  'pending', 'approved', 'expired', 'Escrow', 'escrow', 'Request', 'request',
];
// (`backup.checkout` is the audit filter's example: action names are codes in every language.)
const DATA = ['backup.checkout', 'posting the launch video', 'checking the tour', 'not mine to see', 'locked out', '@tour_brand', '@tour_tiktok', '@tour_new', 'marketing', 'Instagram', 'TikTok', 'YouTube', 'Alice Operator', 'Mia Manager', 'Sam Security', 'alice@example.com', 'mia@example.com', 'sam@example.com', 'The brand account', 'browser-manager', 'browser-operator', 'browser-viewer', 'browser-security_admin'];

async function englishOn(page) {
  const text = await page.evaluate(() => {
    const main = document.querySelector('body').cloneNode(true);
    main.querySelectorAll('code, pre, output, script, style, .hash, [data-testid=account-handle]').forEach((el) => el.remove());
    // Words that are not text until later: placeholders, labels for screen readers, and what
    // the scripts show when a countdown ends or a code is copied.
    const attributes = ['placeholder', 'aria-label', 'alt', 'data-expired-text', 'data-again-text', 'data-soon-text', 'data-copied-text'];
    const later = [...document.querySelectorAll(attributes.map((a) => `[${a}]`).join(','))]
      .flatMap((el) => attributes.map((a) => el.getAttribute(a) || ''));
    return `${main.innerText || main.textContent}\n${later.join('\n')}`;
  });
  let rest = text;
  for (const data of DATA) rest = rest.replaceAll(data, ' ');
  // Each word found, with the text around it, so a failure says where to look.
  return ENGLISH.flatMap((word) => {
    const found = new RegExp(`(^|[^A-Za-z_])${word}([^A-Za-z_]|$)`).exec(rest);
    return found ? [`${word}: …${rest.slice(Math.max(0, found.index - 30), found.index + word.length + 30).replace(/\s+/g, ' ')}…`] : [];
  });
}

test('every page in Japanese is free of English UI words', async () => {
  const operator = stack.token('operator', 'marketing');
  const viewer = stack.token('viewer', 'marketing');
  // Events of every outcome, an incident and a checked-out backup code, so the pages show them.
  assert.equal((await stack.api('POST', `/api/v1/accounts/${brandId}/totp/code`, viewer, { justification: 'not mine to see' })).status, 403);
  const incident = await stack.api('POST', '/api/v1/incidents', operator, { account: brandId, runbook: 'lockout', note: 'locked out' });
  assert.equal(incident.status, 201, JSON.stringify(incident.body));
  const found = {};
  for (const [user, paths] of [
    ['mia', ['/accounts', `/accounts/${brandId}`, '/imports', '/rotation-tasks', '/incidents', `/incidents/${incident.body.id}`, '/escrows', '/access-requests', '/device']],
    ['sam', ['/audit', `/audit?account=${brandId}`, '/members', `/accounts/${brandId}`]],
  ]) {
    const page = await pageFor(stack, user, { locale: 'ja-JP', viewport: { width: 1400, height: 900 } });
    // The member pages of the people signed in so far.
    const all = [...paths];
    if (user === 'sam') {
      await page.goto(`${stack.base}/members`);
      for (const href of await page.locator('a[href^="/members/"]').evaluateAll((links) => links.map((a) => a.getAttribute('href')))) all.push(href);
    }
    for (const p of all) {
      await page.goto(`${stack.base}${p}`);
      assert.equal(await page.locator('html').getAttribute('lang'), 'ja', p);
      const words = await englishOn(page);
      if (words.length) found[`${user} ${p}`] = words;
    }
    if (user === 'mia') {
      await page.goto(`${stack.base}/accounts/${brandId}`);
      await page.getByTestId('justification').fill('確認');
      await page.getByTestId('reveal').click();
      await page.getByTestId('backup-justification').fill('ログインのため');
      await page.getByTestId('checkout').click();
      await page.getByTestId('backup-code').waitFor();
      const words = await englishOn(page);
      if (words.length) found['mia account page with a code and a backup code'] = words;
      // A refusal is worded in Japanese too (keyed by its stable code, here same_secret).
      await page.getByTestId('new-seed').fill(SEED);
      await page.getByTestId('store-seed').click();
      const error = await page.getByTestId('store-error').textContent();
      assert.match(error, /すでに保存されている値と同じです/, error);
      await shot(page, '91-account-ja');
      await docImage(page.locator('main'), 'account-ja');
    }
    await page.context().close();
  }
  assert.deepEqual(found, {}, `English words on Japanese pages: ${JSON.stringify(found, null, 1)}`);
});

test('the manual\'s tour pictures: the account page in English', async () => {
  const page = await pageFor(stack, 'mia', { viewport: { width: 1280, height: 900 } });
  await page.goto(`${stack.base}/accounts/${brandId}`);
  await page.getByTestId('justification').fill('checking the tour');
  await page.getByTestId('reveal').click();
  await page.getByTestId('totp-code').waitFor();
  assert.deepEqual((await cardIds(page)).slice(0, 2), ['totp', 'password']);
  await shot(page, '92-account-en');
  await docImage(page.locator('main'), 'account-en');
  if (DOC_IMAGES) {
    for (const [p, name] of [['/audit', 'audit'], ['/incidents', 'incidents'], ['/rotation-tasks', 'rotation-tasks']]) {
      const sam = p === '/audit' ? await pageFor(stack, 'sam', { viewport: { width: 1400, height: 900 } }) : page;
      await sam.goto(`${stack.base}${p}`);
      await docImage(sam.locator('main'), name);
      if (sam !== page) await sam.context().close();
    }
  }
  await page.context().close();
});
