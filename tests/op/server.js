// An OpenID provider (node-oidc-provider 9.x) for the logout_sso test suite.
//
// Configured entirely from the environment:
//   OP_PORT           port to listen on, on 127.0.0.1 (0 or unset: an ephemeral port)
//   OP_ISSUER         issuer URL (default http://127.0.0.1:<port>)
//   OP_CLIENTS        JSON array of client metadata objects (passed as `clients`)
//   OP_EMAIL_DOMAIN   domain of the email of logins without "@" (default example.com)
//
// Prints `READY <issuer>` on stdout once listening, then one line per back-channel logout
// (`BACKCHANNEL OK <client_id> <sid>` / `BACKCHANNEL ERROR <client_id> <sid> <message>`).
// Exits with status 0 on SIGTERM or SIGINT. For tests only: never expose it.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

function fail(message) {
  process.stderr.write(`op: ${message}\n`);
  process.exit(2);
}

const port = Number.parseInt(process.env.OP_PORT || '0', 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  fail(`OP_PORT must be a port number, got ${JSON.stringify(process.env.OP_PORT)}`);
}

let clients;
try {
  clients = JSON.parse(process.env.OP_CLIENTS || '[]');
} catch (error) {
  fail(`OP_CLIENTS is not valid JSON: ${error.message}`);
}
if (!Array.isArray(clients)) {
  fail('OP_CLIENTS must be a JSON array of client metadata objects');
}

const emailDomain = process.env.OP_EMAIL_DOMAIN || 'example.com';

// One RS256 signing key per process; jwks_uri publishes its public half.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: `test-${randomBytes(6).toString('hex')}`,
  alg: 'RS256',
  use: 'sig',
};

// org_id: the `organization` parameter of the authorization request is remembered in the OP
// session, next to the per-client `sid` and `grantId` (session.authorizations[client_id]); the
// session is persisted with it, so a later authorization request for the same client in the same
// browser session (e.g. a silent `prompt=none` without `organization`) yields the same org_id.
// A request with another `organization` replaces it.
const ORG_ID_KEY = 'org_id';

async function orgIdFor(provider, ctx, token) {
  // Token and userinfo endpoints: the code / access token names the OP session it came from.
  if (token?.sessionUid) {
    const session = await provider.Session.findByUid(token.sessionUid);
    const stored = session?.authorizations?.[token.clientId]?.[ORG_ID_KEY];
    if (stored) return stored;
  }
  // Authorization endpoint (an ID token issued there, e.g. response_type=id_token).
  if (ctx?.oidc?.params?.organization) return ctx.oidc.params.organization;
  const clientId = ctx?.oidc?.client?.clientId;
  if (clientId) return ctx.oidc.session?.authorizations?.[clientId]?.[ORG_ID_KEY];
  return undefined;
}

let provider;

const configuration = {
  clients,
  // http://127.0.0.1 and http://localhost redirect_uris and post_logout_redirect_uris are
  // accepted as they are: oidc-provider 9 refuses http (and localhost) redirect URIs of *web*
  // clients only when the client uses the implicit grant (lib/helpers/client_schema.js,
  // `implicit-force-https` / `implicit-forbid-localhost`), and these clients use the
  // authorization code grant. No `application_type: "native"` is needed (native clients would
  // get loopback port-agnostic matching, which we do not want: URIs must match exactly).
  clientDefaults: {
    grant_types: ['authorization_code'],
    response_types: ['code'],
    id_token_signed_response_alg: 'RS256',
    token_endpoint_auth_method: 'client_secret_basic',
  },
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  responseTypes: ['code'],
  scopes: ['openid', 'email', 'profile'],
  claims: {
    acr: null,
    auth_time: null,
    iss: null,
    sid: null,
    openid: ['sub', 'org_id'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },
  // Put the scope-requested claims (email, org_id, ...) in the ID token itself, not only at the
  // userinfo endpoint.
  conformIdTokenClaims: false,
  // Extra authorization request parameters the relying parties send; they are kept in the
  // interaction, so they are still there when the request resumes after the login form.
  extraParams: ['organization', 'connection'],
  features: {
    devInteractions: { enabled: true }, // login form: any login, any password
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    claimsParameter: { enabled: false },
  },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 600,
    IdToken: 3600,
    Interaction: 3600,
    Grant: 14 * 24 * 3600,
    Session: 14 * 24 * 3600,
  },
  async findAccount(ctx, sub, token) {
    const email = sub.includes('@') ? sub : `${sub}@${emailDomain}`;
    const orgId = await orgIdFor(provider, ctx, token);
    return {
      accountId: sub,
      async claims() {
        const claims = {
          sub,
          email,
          email_verified: true,
          name: sub.split('@')[0],
          preferred_username: sub,
        };
        if (orgId) claims.org_id = orgId;
        return claims;
      },
    };
  },
  // Since 9.7.0 oidc-provider's outgoing requests (back-channel logout among them) refuse
  // loopback and private addresses through an SSRF-protecting undici dispatcher passed as
  // `options.dispatcher`; the test relying parties listen on 127.0.0.1, so drop it, as upstream's
  // certification configuration does. Signature in 9.x: fetch(url, options) -> Promise<Response>.
  fetch: (url, options) => {
    delete options.dispatcher;
    return globalThis.fetch(url, options);
  },
};

const server = createServer();

server.listen(port, '127.0.0.1', () => {
  const actualPort = server.address().port;
  const issuer = process.env.OP_ISSUER || `http://127.0.0.1:${actualPort}`;

  try {
    provider = new Provider(issuer, configuration);
  } catch (error) {
    fail(`invalid configuration: ${error.stack || error}`);
  }

  provider.on('authorization.success', (ctx) => {
    const { session, client, params } = ctx.oidc;
    if (!session || !client || !params.organization) return;
    // The per-client container exists at this point (the sid of the code being issued).
    session.authorizationFor(client.clientId, true)[ORG_ID_KEY] = params.organization;
    session.touched = true; // nested change: make sure the session is saved with it
  });
  provider.on('backchannel.success', (_ctx, client, _accountId, sid) => {
    process.stdout.write(`BACKCHANNEL OK ${client.clientId} ${sid}\n`);
  });
  provider.on('backchannel.error', (_ctx, error, client, _accountId, sid) => {
    process.stdout.write(`BACKCHANNEL ERROR ${client.clientId} ${sid} ${error.message}\n`);
  });
  for (const event of ['server_error', 'authorization.error', 'grant.error', 'end_session.error']) {
    provider.on(event, (_ctx, error) => {
      process.stderr.write(`op: ${event}: ${error.message}${error.error_description ? ` (${error.error_description})` : ''}\n`);
    });
  }

  server.on('request', provider.callback());
  process.stdout.write(`READY ${issuer}\n`);
});

server.on('error', (error) => fail(`cannot listen on 127.0.0.1:${port}: ${error.message}`));

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  // A request still running after a second does not keep the process alive.
  setTimeout(() => process.exit(0), 1000).unref();
}

process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
