// A real OpenID Connect provider for the browser tests: panva/oidc-provider (OpenID Certified), in memory,
// with one confidential client, a few accounts and a plain sign-in form (email + one fixed password).
//
// Settings come from the environment (the tests start it; see tests/oidc_fixture.py):
//   OIDC_PORT            port on 127.0.0.1 (0 or unset: a free one); the issuer is http://127.0.0.1:<port>
//   OIDC_CLIENT_ID       the client's id                 OIDC_CLIENT_SECRET  its secret
//   OIDC_REDIRECT_URIS   space-separated redirect URIs (st.login's is http://127.0.0.1:<app port>/oauth2callback)
//   OIDC_ACCOUNTS        JSON {"ana@example.com": {"name": "Ana", "groups": ["risk"]}, ...}
//   OIDC_PASSWORD        the one password every account signs in with
// When it listens it prints one line: "oidc-provider ready: http://127.0.0.1:<port>".
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider, { interactionPolicy } from 'oidc-provider';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`provider.js: environment variable ${name} is not set`);
    process.exit(2);
  }
  return value;
}

const clientId = required('OIDC_CLIENT_ID');
const clientSecret = required('OIDC_CLIENT_SECRET');
const redirectUris = required('OIDC_REDIRECT_URIS').split(/\s+/).filter(Boolean);
const accounts = JSON.parse(required('OIDC_ACCOUNTS'));
const password = required('OIDC_PASSWORD');
const SCOPES = ['openid', 'email', 'profile', 'groups'];

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, login, error) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Test provider: sign in</title></head><body>
<h1>Sign in to the test provider</h1>
${error ? `<p id="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
  <label>Email <input type="text" name="login" value="${escapeHtml(login)}" required autofocus></label>
  <label>Password <input type="password" name="password" required></label>
  <button type="submit">Sign in</button>
</form></body></html>`;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

function send(res, status, html) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html);
}

// The sign-in interaction: a form of our own (the package's devInteractions accept any login and password).
async function interaction(provider, req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid || !['login', 'select_account'].includes(details.prompt.name)) {
    send(res, 400, `<p>unexpected interaction ${escapeHtml(details.prompt.name)}</p>`);
    return;
  }
  if (req.method === 'GET' && !action) {
    send(res, 200, loginPage(uid, details.params.login_hint || '', ''));
    return;
  }
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const login = (form.get('login') || '').trim();
    if (Object.hasOwn(accounts, login) && form.get('password') === password) {
      console.log(`signed in: ${login}`);
      const result = { login: { accountId: login }, select_account: {} }; // the account chosen is the one signed in
      await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
      return;
    }
    console.log(`refused sign-in: ${login}`);
    send(res, 200, loginPage(uid, login, 'Wrong email or password.'));
    return;
  }
  send(res, 405, '<p>method not allowed</p>');
}

// st.login asks for prompt=select_account (as Google understands it) unless told otherwise: the sign-in
// form is where the account is chosen, so it resolves both prompts (and shows again on every st.login).
function policy() {
  const prompts = interactionPolicy.base();
  prompts.add(new interactionPolicy.Prompt({ name: 'select_account', requestable: true }));
  return prompts;
}

// The page that confirms a sign-out requested by the app (the package's default loads web fonts).
async function logoutSource(ctx, form) {
  ctx.body = `<!doctype html><html><head><meta charset="utf-8"><title>Test provider: sign out</title></head><body>
<h1>Sign out of the test provider?</h1>${form}
<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button></body></html>`;
}

function configuration() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      post_logout_redirect_uris: redirectUris, // st.logout comes back through its callback path
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' }] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600 }, // seconds
    scopes: SCOPES,
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
    },
    conformIdTokenClaims: false, // the ID token carries the scopes' claims: st.user is read from it
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true, logoutSource },
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}`, policy: policy() },
    // a first-party client: consent is given by signing in
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope(SCOPES.join(' '));
      await grant.save();
      return grant;
    },
    async findAccount(ctx, sub) {
      if (!Object.hasOwn(accounts, sub)) return undefined;
      const account = accounts[sub];
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            email: sub,
            email_verified: true,
            name: account.name || sub,
            groups: account.groups || [],
          };
        },
      };
    },
  };
}

let provider;
let handle;
const server = createServer((req, res) => {
  const match = /^\/interaction\/([\w-]+)(?:\/(\w+))?$/.exec(new URL(req.url, 'http://x').pathname);
  if (!match) {
    handle(req, res);
    return;
  }
  interaction(provider, req, res, match[1], match[2]).catch((error) => {
    console.error(`interaction failed: ${error.message}`);
    if (!res.headersSent) send(res, 400, `<p>${escapeHtml(error.message)}</p>`);
  });
});

server.listen(Number(process.env.OIDC_PORT || 0), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = new Provider(issuer, configuration());
  handle = provider.callback();
  provider.on('server_error', (ctx, error) => console.error(`server_error: ${error.message}`));
  console.log(`oidc-provider ready: ${issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
