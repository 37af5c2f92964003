// Accessibility in real headless Chromium: the dashboard's pages pass axe-core's WCAG 2.1 A
// and AA rules in English and Japanese, the daily flow (reveal a code, copy it) works with the
// keyboard alone, and the copy button and the countdown speak to screen readers through the
// page's live region. Screenshots go to tests/browser/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, signIn, shot, a11yViolations, pageFor } from './harness.mjs';

const SEED = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
const CODES = '1111 2222\n3333 4444\n5555 6666\n7777 8888\n9999 0000';

let stack;
let accountId;

before(async () => {
  stack = await startStack();
  const manager = stack.token('manager', 'marketing');
  const created = await stack.api('POST', '/api/v1/accounts', manager, { team: 'marketing', platform: 'instagram', handle: '@a11y_brand' });
  assert.equal(created.status, 201);
  accountId = created.body.id;
  assert.equal((await stack.api('PUT', `/api/v1/accounts/${accountId}/totp`, manager, { secret: SEED })).status, 201);
  const imported = await stack.api('POST', `/api/v1/accounts/${accountId}/backup-codes`, manager, { codes: CODES.split('\n'), issued_on: '2026-11-01' });
  assert.equal(imported.status, 201);
});

after(async () => {
  await stack?.stop();
});

async function signedIn(user, locale) {
  const page = await pageFor(stack, null, { locale, viewport: { width: 1280, height: 900 } });
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.base });
  await signIn(page, stack.base, user);
  return page;
}

async function expectNoViolations(page, what) {
  const violations = await a11yViolations(page);
  assert.deepEqual(violations, [], `${what}: ${violations.join('\n')}`);
}

for (const locale of ['en-US', 'ja-JP']) {
  test(`the manager's pages pass axe-core (${locale})`, async () => {
    const page = await signedIn('mia', locale);
    // Nothing on these pages logs an error (a missing favicon would).
    const errors = [];
    page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
    page.on('response', (res) => { if (res.status() >= 400) errors.push(`${res.status()} ${res.url()}`); });
    for (const path of ['/accounts', `/accounts/${accountId}`, '/imports', '/rotation-tasks', '/incidents', '/escrows']) {
      await page.goto(`${stack.base}${path}`);
      await expectNoViolations(page, `${locale} ${path}`);
    }
    // With a code revealed and a backup code checked out.
    await page.goto(`${stack.base}/accounts/${accountId}`);
    await page.getByTestId('justification').fill('a11y check');
    await page.getByTestId('reveal').click();
    await page.getByTestId('backup-justification').fill('a11y check');
    await page.getByTestId('checkout').click();
    await page.getByTestId('backup-code').waitFor();
    await expectNoViolations(page, `${locale} account page with codes shown`);
    assert.deepEqual(errors, [], 'no console error and no failed request');
    assert.equal((await page.request.get(`${stack.base}/static/favicon.svg`)).headers()['content-type'], 'image/svg+xml');
    // The check can fail: an image without a text alternative is reported.
    await page.evaluate(() => document.querySelector('main').insertAdjacentHTML('beforeend', '<img src="/static/none.png">'));
    assert.match((await a11yViolations(page)).join('\n'), /^image-alt:/m);
    await page.context().close();
  });

  test(`the auditor's and the newcomer's pages pass axe-core (${locale})`, async () => {
    const olga = await signedIn('olga', locale);
    await olga.goto(`${stack.base}/audit`);
    await expectNoViolations(olga, `${locale} /audit`);
    // Laid out for 1280 pixels: nothing wider than the window, and no action, outcome, time
    // or hash broken over two lines; the newest event first, with names rather than ids.
    const layout = await olga.evaluate(() => ({
      overflow: document.documentElement.scrollWidth - window.innerWidth,
      // A cell's text on more than one line has line boxes at more than one height.
      lines: [...document.querySelectorAll('table.audit td.nowrap')].filter((td) => {
        const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
        for (let text = walker.nextNode(); text; text = walker.nextNode()) {
          if (!text.textContent.trim()) continue;
          const range = document.createRange();
          range.selectNodeContents(text);
          if (new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size > 1) return true;
        }
        return false;
      }).map((td) => td.textContent.trim()),
      seqs: [...document.querySelectorAll('[data-testid=event]')].map((tr) => Number(tr.dataset.seq)),
      actors: [...document.querySelectorAll('[data-testid^=actor-]')].map((td) => td.textContent),
      targets: [...document.querySelectorAll('[data-testid=event] td:nth-child(5)')].map((td) => td.textContent.trim()),
    }));
    assert.ok(layout.overflow <= 0, `the page is ${layout.overflow}px wider than the window`);
    assert.deepEqual(layout.lines, [], 'no word broken over two lines');
    assert.ok(layout.seqs.length > 5 && layout.seqs.every((seq, i) => i === 0 || seq < layout.seqs[i - 1]), `newest first: ${layout.seqs}`);
    assert.ok(layout.actors.includes('token browser-manager') && layout.actors.includes('Olga Auditor') && !layout.actors.some((a) => a.startsWith('token:')), `names, not ids: ${layout.actors}`);
    assert.ok(layout.targets.includes('token browser-manager') && !layout.targets.some((t) => /^(token|member):/.test(t)), `targets by name: ${layout.targets}`);
    await shot(olga, `91-audit-1280-${locale}`);
    await olga.goto(`${stack.base}/members`);
    await expectNoViolations(olga, `${locale} /members`);
    await olga.context().close();
    const nora = await signedIn('nora', locale);
    await nora.goto(`${stack.base}/accounts`);
    await expectNoViolations(nora, `${locale} empty /accounts`);
    const refused = await nora.goto(`${stack.base}/audit`);
    assert.equal(refused.status(), 403);
    await expectNoViolations(nora, `${locale} the refusal page`);
    await nora.context().close();
    const context = await stack.browser.newContext({ locale });
    const anonymous = await context.newPage();
    await anonymous.goto(`${stack.base}/`);
    await expectNoViolations(anonymous, `${locale} the sign-in page`);
    await context.close();
  });
}

test('a code is revealed and copied with the keyboard alone, and both are announced', async () => {
  const page = await signedIn('alice', 'en-US');
  await page.goto(`${stack.base}/accounts/${accountId}`);
  const tabTo = async (testId) => {
    for (let i = 0; i < 80; i += 1) {
      await page.keyboard.press('Tab');
      if (await page.evaluate(() => document.activeElement?.dataset?.testid) === testId) return;
    }
    assert.fail(`${testId} is not reachable with Tab`);
  };
  // A skip link comes first, for keyboard users.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('href')), '#main');
  await tabTo('justification');
  await page.keyboard.type('posting the launch video');
  await Promise.all([page.waitForURL(/shown=/), page.keyboard.press('Enter')]);
  const code = await page.getByTestId('totp-code').getAttribute('data-code');
  assert.match(code, /^\d{6}$/);
  await tabTo('copy');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('#announcer').textContent.length > 0);
  assert.equal(await page.locator('#announcer').textContent(), 'Copied');
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), code);
  assert.equal(await page.locator('#announcer').getAttribute('aria-live'), 'polite');
  assert.equal(await page.getByTestId('expires-in').getAttribute('role'), 'timer');
  await shot(page, '90-keyboard-reveal');
  // The countdown is announced near its end and when the code expires; copy is then off.
  const left = Number(await page.getByTestId('expires-in').textContent());
  if (left > 11) {
    await page.waitForFunction(() => /10 seconds left/.test(document.querySelector('#announcer').textContent), null, { timeout: (left + 2) * 1000 });
  }
  await page.waitForFunction(() => /expired/i.test(document.querySelector('#announcer').textContent), null, { timeout: 15000 });
  assert.equal(await page.getByTestId('copy').isDisabled(), true);
  await page.context().close();
});
