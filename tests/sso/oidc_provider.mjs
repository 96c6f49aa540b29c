// A real OpenID Provider for the single sign-on tests: the npm package `oidc-provider`
// (pinned in package.json), on 127.0.0.1 only, configured from one JSON document in the
// OIDC_TEST_CONFIG environment variable:
//   { "port": 0, "issuer": "http://127.0.0.1:<port>", "jwks": {"keys": [<private JWK>]},
//     "clients": [<client metadata>], "accounts": {"<id>": {<claims>}} }
// Its development login and consent pages (devInteractions) take any password: the tests
// sign in as one of the configured accounts by posting its id. The listening port is
// printed as "listening <port>" once the provider answers.
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(process.env.OIDC_TEST_CONFIG);

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: config.jwks,
  cookies: { keys: ['lead-portal-test-cookie-key'] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'groups'],
  },
  // The claims go into the ID token itself, as Entra ID puts email and groups there.
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { required: () => true },
  ttl: { IdToken: 600, AccessToken: 600, AuthorizationCode: 60, Session: 3600, Grant: 3600, Interaction: 600 },
  async findAccount(ctx, id) {
    const claims = config.accounts[id];
    if (!claims) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...claims };
      },
    };
  },
});

const server = http.createServer(provider.callback());
server.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
