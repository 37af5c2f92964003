// Starts what a browser test needs: the demo OpenID Provider, the real `keyward` binary on a
// fresh SQLite database and key file, and Debian's Chromium through playwright-core.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startProvider } from '../oidc/provider.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../..');
export const keywardBin = process.env.KW_BIN || path.join(repoRoot, 'target/debug/keyward');
export const screenshotDir = path.join(here, 'screenshots');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** Starts the IdP and Keyward; returns helpers and a stop function. `tamper` goes to the IdP
 *  (see tests/oidc/provider.mjs); `extraConfig` is appended to Keyward's configuration. */
export async function startStack({ tamper = '', extraConfig = '' } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyward-browser-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const idp = await startProvider({ port: 0, redirectUris: [`${base}/auth/callback`], tamper });
  const config = path.join(dir, 'keyward.toml');
  writeFileSync(
    config,
    `listen = "127.0.0.1:${port}"
public_url = "${base}"
[database]
url = "sqlite://${dir}/keyward.db?mode=rwc"
[keys]
key_file = "${dir}/keys.json"
[log]
format = "json"
level = "info"
[oidc]
issuer = "${idp.issuer}"
client_id = "keyward"
client_secret = "keyward-dev-secret"
[[role_bindings]]
group = "sns-marketing"
team = "marketing"
role = "operator"
[[role_bindings]]
group = "sns-marketing-leads"
team = "marketing"
role = "manager"
[[role_bindings]]
group = "auditors"
team = "*"
role = "auditor"
[[role_bindings]]
group = "security"
team = "*"
role = "security_admin"
[[role_bindings]]
group = "sns-viewers"
team = "marketing"
role = "viewer"
${extraConfig}`,
  );
  const env = { ...process.env, KEYWARD_CONFIG: config };
  for (const key of Object.keys(env)) if (key.startsWith('KEYWARD_') && key !== 'KEYWARD_CONFIG') delete env[key];
  execFileSync(keywardBin, ['keys', 'init', '--key-file', path.join(dir, 'keys.json')], { env });
  execFileSync(keywardBin, ['migrate'], { env });
  const server = spawn(keywardBin, ['serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 100; i += 1) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const token = (role, team) =>
    execFileSync(keywardBin, ['token', 'create', '--name', `browser-${role}`, '--role', role, '--team', team], { env })
      .toString()
      .trim()
      .split('\n')
      .pop();

  mkdirSync(screenshotDir, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });

  return {
    base,
    idp,
    browser,
    token,
    async api(method, pathname, bearer, body) {
      const res = await fetch(`${base}${pathname}`, {
        method,
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: res.status, body: await res.json().catch(() => null) };
    },
    async stop() {
      await browser.close();
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
      await idp.close();
    },
  };
}

/** Signs in through the demo IdP as `user` (password "demo"), starting from the sign-in page. */
export async function signIn(page, base, user) {
  await page.goto(`${base}/`);
  await page.getByTestId('sign-in').click();
  await page.locator('#login').fill(user);
  await page.locator('#password').fill('demo');
  await Promise.all([page.waitForURL(`${base}/**`), page.getByRole('button', { name: 'Sign in' }).click()]);
}

/**
 * A page in a fresh browser context (cookies of its own) that fails the test on any
 * Content-Security-Policy violation, signed in as `user` when one is given.
 */
export async function pageFor(stack, user, { locale = 'en-US', ...contextOptions } = {}) {
  const context = await stack.browser.newContext({ locale, ...contextOptions });
  const page = await context.newPage();
  page.on('console', (msg) => {
    if (/Content Security Policy|Refused to/.test(msg.text())) throw new Error(`CSP violation: ${msg.text()}`);
  });
  if (user) await signIn(page, stack.base, user);
  return page;
}

/** RFC 6238 TOTP-SHA1 codes for the periods around now, computed independently of Keyward. */
export function totpWindow(base32Seed, digits = 6, period = 30) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of base32Seed.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const step = Math.floor(Date.now() / 1000 / period);
  return [step - 1, step, step + 1].map((counter) => {
    const msg = Buffer.alloc(8);
    msg.writeBigUInt64BE(BigInt(counter));
    const mac = crypto.createHmac('sha1', key).update(msg).digest();
    const offset = mac[mac.length - 1] & 0x0f;
    const bin = mac.readUInt32BE(offset) & 0x7fffffff;
    return String(bin % 10 ** digits).padStart(digits, '0');
  });
}

// axe-core (pinned in package.json), evaluated in the page over the DevTools protocol: the
// page's Content-Security-Policy, which refuses injected script tags, stays as it is.
const AXE_SOURCE = readFileSync(path.join(here, 'node_modules/axe-core/axe.min.js'), 'utf8');

/// The WCAG 2.1 A and AA violations axe-core finds on the page, as readable lines.
export async function a11yViolations(page) {
  await page.evaluate(`${AXE_SOURCE}\n;0`);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations.map((v) => `${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(', ')}`);
  });
  return violations;
}

export const shot = (page, name) => page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true });
