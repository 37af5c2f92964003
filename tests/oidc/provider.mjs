// A real OpenID Provider (panva/oidc-provider) with demo users and groups, for `make dev`
// and the tests. Not for production: accounts are fixed and storage is in memory.
//
// Run:    node provider.mjs            (env: PORT, ISSUER, REDIRECT_URIS, BACKCHANNEL_LOGOUT_URI,
//                                        CLIENT_SECRET, TAMPER)
// Import: const idp = await startProvider({ port: 0, redirectUris: [...] }); idp.issuer; await idp.close();
//
// TAMPER=aud|iss makes the token endpoint return an ID token signed with the provider's own
// key but for another audience or issuer, to prove the relying party refuses it;
// TAMPER=no_auth_time leaves out auth_time (as some IdPs do), signed all the same;
// TAMPER=stale_auth_time_once dates each user's first authentication an hour back;
// TAMPER=logout_nonce adds a nonce to each logout token (which a relying party must refuse),
// re-signed with the provider's key.
//
// GROUPS_FILE names a JSON file `{"alice": ["group", …]}` read at every sign-in: a user named
// there gets those groups instead of their demo ones, so a test can take groups away as an
// IdP administrator would.
//
// Back-channel logout: with BACKCHANNEL_LOGOUT_URI set, ending a session at the provider
// (GET /session/end, then POST /session/end/confirm with its xsrf and logout=yes) posts a
// signed logout token to that URI before the confirmation answers.

import fs from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import Provider from 'oidc-provider';
import * as jose from 'jose';

/** Demo users: every password is "demo". */
export const USERS = {
  alice: { name: 'Alice Operator', email: 'alice@example.com', groups: ['sns-marketing'] },
  mia: { name: 'Mia Manager', email: 'mia@example.com', groups: ['sns-marketing-leads'] },
  victor: { name: 'Victor Viewer', email: 'victor@example.com', groups: ['sns-viewers'] },
  sam: { name: 'Sam Security', email: 'sam@example.com', groups: ['security'] },
  olga: { name: 'Olga Auditor', email: 'olga@example.com', groups: ['auditors'] },
  nora: { name: 'Nora Newcomer', email: 'nora@example.com', groups: [] },
  // An address the IdP has not verified: Keyward must not keep it.
  uma: { name: 'Uma Unverified', email: 'uma@example.com', emailVerified: false, groups: ['sns-viewers'] },
};

/** A user's groups: GROUPS_FILE's, when it names them, else the demo ones. */
function groupsOf(id, user) {
  const file = process.env.GROUPS_FILE;
  if (!file) return user.groups;
  try {
    const changed = JSON.parse(fs.readFileSync(file, 'utf8'));
    return Array.isArray(changed[id]) ? changed[id] : user.groups;
  } catch {
    return user.groups;
  }
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, error) {
  const options = Object.entries(USERS)
    .map(([id, u]) => `<li><code>${id}</code> — ${escape(u.name)} (${u.groups.join(', ') || 'no groups'})</li>`)
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Demo IdP sign-in</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}
input,button{font-size:1rem;padding:.5rem;margin:.25rem 0;width:100%;box-sizing:border-box}
.error{color:#b00020}</style></head><body>
<h1>Demo identity provider</h1>
<p>Sign in as one of the demo users. The password is <code>demo</code>.</p>
${error ? `<p class="error" role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login" autocomplete="off">
<label for="login">User</label><input id="login" name="login" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" required>
<button type="submit">Sign in</button></form>
<h2>Demo users</h2><ul>${options}</ul></body></html>`;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) break;
  }
  return new URLSearchParams(body);
}

export async function startProvider({
  port = 0,
  host = '127.0.0.1',
  issuer,
  redirectUris = [],
  clientId = 'keyward',
  clientSecret = 'keyward-dev-secret',
  tamper = '',
  backchannelLogoutUri = '',
} = {}) {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await jose.exportJWK(privateKey)), kid: 'demo-key', alg: 'RS256', use: 'sig' };

  const server = http.createServer();
  await new Promise((resolve) => server.listen(port, host, resolve));
  const actualPort = server.address().port;
  const iss = issuer || `http://${host}:${actualPort}`;

  const provider = new Provider(iss, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        ...(backchannelLogoutUri
          ? { backchannel_logout_uri: backchannelLogoutUri, backchannel_logout_session_required: true }
          : {}),
      },
    ],
    async findAccount(ctx, id) {
      const user = USERS[id];
      if (!user) return undefined;
      return {
        accountId: id,
        async claims() {
          return { sub: id, name: user.name, email: user.email, email_verified: user.emailVerified !== false, groups: groupsOf(id, user) };
        },
      };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'groups'] },
    scopes: ['openid', 'email', 'profile', 'offline_access'],
    jwks: { keys: [jwk] },
    cookies: { keys: ['demo-cookie-key-not-secret'] },
    features: { devInteractions: { enabled: false }, backchannelLogout: { enabled: true } },
    // The relying party runs on 127.0.0.1 in tests and `make dev`: the provider's guard against
    // requests to loopback addresses would drop every logout token, so it is left out here.
    // Logout tokens can be tampered with here too (TAMPER=logout_nonce).
    async fetch(url, options) {
      delete options.dispatcher;
      if (tamper === 'logout_nonce' && options.body instanceof URLSearchParams && options.body.has('logout_token')) {
        const claims = jose.decodeJwt(options.body.get('logout_token'));
        claims.nonce = 'not-allowed';
        const resigned = await new jose.SignJWT(claims)
          .setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'logout+jwt' })
          .sign(privateKey);
        options.body.set('logout_token', resigned);
      }
      return globalThis.fetch(url, options);
    },
    pkce: { required: () => true },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    // A first-party client: consent is implied, so only the login prompt is shown.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
  });
  provider.proxy = false;

  const staleDone = new Set();
  if (tamper) {
    provider.use(async (ctx, next) => {
      await next();
      if (ctx.path.endsWith('/token') && ctx.body && ctx.body.id_token) {
        const claims = jose.decodeJwt(ctx.body.id_token);
        if (tamper === 'aud') claims.aud = 'someone-else';
        if (tamper === 'iss') claims.iss = 'http://evil.example';
        if (tamper === 'no_auth_time') delete claims.auth_time;
        // The first sign-in of each user looks an hour old, as a long-lived IdP session does:
        // the relying party must step up; the step-up's token is left as it is.
        if (tamper === 'stale_auth_time_once' && !staleDone.has(claims.sub)) {
          staleDone.add(claims.sub);
          claims.auth_time = claims.iat - 3600;
        }
        ctx.body = {
          ...ctx.body,
          id_token: await new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: jwk.kid }).sign(privateKey),
        };
      }
    });
  }

  const callback = provider.callback();
  server.on('request', async (req, res) => {
    const match = req.url.match(/^\/interaction\/([^/?]+)(\/login)?/);
    if (!match) return callback(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      if (req.method === 'POST' && match[2]) {
        const form = await readForm(req);
        const login = (form.get('login') || '').trim().toLowerCase();
        if (!USERS[login] || form.get('password') !== 'demo') {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
          return res.end(loginPage(details.uid, 'Unknown user or wrong password.'));
        }
        return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(loginPage(details.uid));
    } catch (err) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      return res.end(`interaction error: ${err.message}`);
    }
  });

  return {
    issuer: iss,
    port: actualPort,
    provider,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // A reader that went away must not crash the provider.
  process.stdout.on('error', () => {});
  const idp = await startProvider({
    port: Number(process.env.PORT || 0),
    issuer: process.env.ISSUER || undefined,
    redirectUris: (process.env.REDIRECT_URIS || '').split(',').filter(Boolean),
    clientSecret: process.env.CLIENT_SECRET || 'keyward-dev-secret',
    tamper: process.env.TAMPER || '',
    backchannelLogoutUri: process.env.BACKCHANNEL_LOGOUT_URI || '',
  });
  // The first line of stdout is the issuer: the test harness reads it.
  console.log(idp.issuer);
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => idp.close().then(() => process.exit(0)));
}
