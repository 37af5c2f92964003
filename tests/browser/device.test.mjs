// `kw login` with its browser leg in real headless Chromium: the command line (the real `kw`
// binary, in a subprocess) prints a code; alice signs in through SSO, types it on /device,
// sees which client asks and from where, and approves; the terminal is signed in. Mia, in
// Japanese, follows the link `kw` prints and denies: `kw` exits 4. A security admin then sees
// alice's command line on her member page and ends it: `kw` is signed out. Screenshots go to
// tests/browser/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { startStack, shot, pageFor as harnessPageFor, a11yViolations, keywardBin } from './harness.mjs';

const kwBin = process.env.KW_CLIENT_BIN || path.join(path.dirname(keywardBin), 'kw');
let stack;
const pageFor = (user, locale = 'en-US') => harnessPageFor(stack, user, { locale });
const aliceConfig = mkdtempSync(path.join(tmpdir(), 'kw-alice-'));
const miaConfig = mkdtempSync(path.join(tmpdir(), 'kw-mia-'));
const kwEnv = (config) => ({ PATH: process.env.PATH, XDG_CONFIG_HOME: config });

/** Starts `kw login`; resolves with its code, the link it printed, and its exit. */
async function kwLogin(config) {
  const child = spawn(kwBin, ['login', stack.base], { env: kwEnv(config), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d) => { stdout += d; });
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout })));
  const lines = readline.createInterface({ input: child.stderr });
  let code;
  let link;
  for await (const line of lines) {
    if (line.includes('enter the code')) code = line.trim().split(' ').pop();
    const found = line.match(/\(or open (\S+)\)/);
    if (found) {
      link = found[1];
      break;
    }
  }
  return { code, link, exited };
}

before(async () => {
  stack = await startStack();
});

after(async () => {
  await stack?.stop();
});

test('alice types the code from her terminal, sees who asks, and approves it', async () => {
  const login = await kwLogin(aliceConfig);
  assert.match(login.code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
  const alice = await pageFor('alice');
  await alice.goto(`${stack.base}/device`);
  assert.deepEqual(await a11yViolations(alice), []);
  // Typed as people type it: lower case, without the hyphen.
  await alice.getByTestId('device-code-input').fill(login.code.replace('-', '').toLowerCase());
  await Promise.all([alice.waitForURL(/\/device\?user_code=/), alice.getByTestId('device-continue').click()]);
  assert.equal((await alice.getByTestId('device-user-code').textContent()).trim(), login.code);
  assert.match(await alice.getByTestId('device-from').textContent(), /127\.0\.0\.1.*kw\//);
  assert.deepEqual(await a11yViolations(alice), []);
  await shot(alice, '110-device-approve');
  await Promise.all([alice.waitForURL(/\/device\?done=approved$/), alice.getByTestId('device-approve').click()]);
  assert.ok(await alice.getByTestId('device-done').isVisible());
  await alice.reload();
  assert.equal(await alice.getByTestId('device-pending').count(), 0, 'a reload approves nothing more');
  const { code, stdout } = await login.exited;
  assert.equal(code, 0);
  assert.match(stdout, /Signed in to .* as Alice Operator/);
  const me = JSON.parse(execFileSync(kwBin, ['whoami', '--json'], { env: kwEnv(aliceConfig) }).toString());
  assert.equal(me.name, 'Alice Operator');
});

test('mia follows the link in Japanese and denies it; the terminal is told', async () => {
  const login = await kwLogin(miaConfig);
  const mia = await pageFor('mia', 'ja-JP');
  await mia.goto(login.link);
  assert.match(await mia.locator('h1').textContent(), /コマンドラインのサインイン/);
  assert.match(await mia.getByTestId('device-pending').textContent(), /承認/);
  await shot(mia, '111-device-ja');
  await Promise.all([mia.waitForURL(/\/device\?done=denied$/), mia.getByTestId('device-deny').click()]);
  assert.match(await mia.getByTestId('device-done').textContent(), /拒否しました/);
  assert.equal((await login.exited).code, 4);
});

test("a security admin ends alice's command line from her member page", async () => {
  const me = JSON.parse(execFileSync(kwBin, ['whoami', '--json'], { env: kwEnv(aliceConfig) }).toString());
  const sam = await pageFor('sam');
  await sam.goto(`${stack.base}/members/${me.id}`);
  const lines = sam.getByTestId('command-lines').getByTestId('command-line');
  assert.equal(await lines.count(), 1);
  assert.match(await lines.textContent(), /kw\//);
  assert.deepEqual(await a11yViolations(sam), []);
  await shot(sam, '112-member-command-lines');
  await Promise.all([sam.waitForURL(/#command-lines$/), lines.getByTestId('command-line-revoke').click()]);
  assert.ok(await sam.getByTestId('command-lines-empty').isVisible());
  let exit = 0;
  try {
    execFileSync(kwBin, ['whoami'], { env: kwEnv(aliceConfig), stdio: 'pipe' });
  } catch (err) {
    exit = err.status;
  }
  assert.equal(exit, 3, 'the terminal is signed out');
});
