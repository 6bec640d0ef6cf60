// A real OpenID Connect provider for the single sign-on tests (tests/sso/conftest.py starts
// it): panva's oidc-provider with its development sign-in pages. PKCE (S256) is required
// of every client, as a production IdP set up for this control plane would require it.
//
// Configured by the environment:
//   IDP_PORT       port on 127.0.0.1 to listen on
//   IDP_CLIENT     JSON {client_id, client_secret, redirect_uris}
//   IDP_ACCOUNTS   JSON {login: {email, name, groups: [...]}}; an unknown login cannot sign in
import Provider from 'oidc-provider';

const port = Number(process.env.IDP_PORT);
const client = JSON.parse(process.env.IDP_CLIENT);
const accounts = JSON.parse(process.env.IDP_ACCOUNTS || '{}');
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    ...client,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  }],
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
    groups: ['groups'],
  },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        const [given, ...family] = (account.name || id).split(' ');
        return {
          sub: id, email: account.email, email_verified: true, name: account.name || id,
          given_name: given, family_name: family.join(' '), groups: account.groups || [],
        };
      },
    };
  },
  // Issue the ID token claims the client asked for by scope (not only through userinfo).
  conformIdTokenClaims: false,
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
