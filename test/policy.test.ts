import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/errors.js';
import { createServer, type ServerOptions } from '../src/server.js';
import {
  ACCESS_TOKEN_TYPE,
  basicHeader,
  form,
  postToken,
  startServer,
  TOKEN_EXCHANGE,
  UNSIGNED_USER_JWT,
} from './helpers.js';
import { compactToken, NOW, SIGNING_KEYS_FILE } from './subject-tokens.js';
import {
  BASIC_CHALLENGE,
  expectOAuthError,
  expectTokenResponse,
  lastLogEntry,
} from './token-assertions.js';

const GATEWAY = { clientId: 'gateway', clientSecret: 'gateway-secret' };
const SERVICE = { clientId: 'service', clientSecret: 'service-secret' };

/** Builds a token exchange body for {@link GATEWAY} by client_secret_post, with `extra` pairs. */
function exchange(extra: Array<[string, string]> = []): string {
  return form([
    ['grant_type', TOKEN_EXCHANGE],
    ['subject_token', UNSIGNED_USER_JWT],
    ['subject_token_type', ACCESS_TOKEN_TYPE],
    ['client_id', GATEWAY.clientId],
    ['client_secret', GATEWAY.clientSecret],
    ...extra,
  ]);
}

/** Builds a client credentials body for {@link SERVICE} by client_secret_post. */
function clientCredentials(extra: Array<[string, string]> = []): string {
  return form([
    ['grant_type', 'client_credentials'],
    ['client_id', SERVICE.clientId],
    ['client_secret', SERVICE.clientSecret],
    ...extra,
  ]);
}

/** Builds an unsigned JWT with `sub` user-123 and the given extra claims. */
function unsignedSubject(claims: Record<string, unknown>): string {
  return compactToken({ alg: 'none' }, { sub: 'user-123', ...claims });
}

/** Calls `createServer` and returns the message of the ConfigError it throws. */
function configError(options: unknown): string {
  try {
    createServer(options as ServerOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('createServer accepted invalid options');
}

describe('client authentication methods', () => {
  it('rejects method outside authMethods', async () => {
    const { url, tokenUrl } = await startServer({
      clients: [{ ...GATEWAY, authMethods: ['client_secret_basic'] }],
    });

    const response = await postToken(tokenUrl, exchange());

    expect(response.headers.get('www-authenticate')).toBe(BASIC_CHALLENGE);
    await expectOAuthError(
      response,
      401,
      'invalid_client',
      'the client authentication method is not allowed for this client',
    );
    const entry = await lastLogEntry(url);
    expect(entry.outcome.detail).toBe(
      'client "gateway" used client_secret_post, but is allowed only client_secret_basic',
    );
  });

  it('accepts method inside authMethods', async () => {
    const { tokenUrl } = await startServer({
      clients: [{ ...GATEWAY, authMethods: ['client_secret_basic'] }],
    });

    const response = await postToken(
      tokenUrl,
      form([
        ['grant_type', TOKEN_EXCHANGE],
        ['subject_token', UNSIGNED_USER_JWT],
        ['subject_token_type', ACCESS_TOKEN_TYPE],
      ]),
      { authorization: basicHeader(GATEWAY.clientId, GATEWAY.clientSecret) },
    );

    expect(response.status).toBe(200);
  });

  it('checks secret before method', async () => {
    const { url, tokenUrl } = await startServer({
      clients: [{ ...GATEWAY, authMethods: ['client_secret_basic'] }],
    });

    const response = await postToken(
      tokenUrl,
      exchange().replace('gateway-secret', 'wrong-secret'),
    );

    await expectOAuthError(response, 401, 'invalid_client', 'client authentication failed');
    const entry = await lastLogEntry(url);
    expect(entry.outcome.detail).toBe('secret does not match for "gateway"');
  });

  it('applies authMethods at introspection', async () => {
    const { url } = await startServer({
      clients: [{ ...GATEWAY, authMethods: ['client_secret_basic'] }],
    });

    const response = await postToken(
      `${url}/oauth2/introspect`,
      form({ token: 'x', client_id: GATEWAY.clientId, client_secret: GATEWAY.clientSecret }),
    );

    await expectOAuthError(
      response,
      401,
      'invalid_client',
      'the client authentication method is not allowed for this client',
    );
  });
});

describe('client grant types', () => {
  it('rejects grant outside grantTypes', async () => {
    const { url, tokenUrl } = await startServer({
      clients: [{ ...GATEWAY, grantTypes: ['client_credentials'] }],
    });

    const response = await postToken(tokenUrl, exchange());

    await expectOAuthError(
      response,
      400,
      'unauthorized_client',
      'the client is not allowed to use this grant_type',
    );
    const entry = await lastLogEntry(url);
    expect(entry.outcome.detail).toBe(
      `client "gateway" may use only client_credentials, not ${TOKEN_EXCHANGE}`,
    );
  });

  it('allows grant inside grantTypes', async () => {
    const { tokenUrl } = await startServer({
      clients: [{ ...GATEWAY, grantTypes: [TOKEN_EXCHANGE] }],
    });

    const response = await postToken(tokenUrl, exchange());

    expect(response.status).toBe(200);
  });

  it('unknown grant stays unsupported', async () => {
    const { tokenUrl } = await startServer({
      clients: [{ ...GATEWAY, grantTypes: [TOKEN_EXCHANGE] }],
    });

    const response = await postToken(
      tokenUrl,
      form({ grant_type: 'password', ...credentialsOf(GATEWAY) }),
    );

    await expectOAuthError(response, 400, 'unsupported_grant_type', 'unsupported grant_type');
  });

  it('authenticates before grant check', async () => {
    const { tokenUrl } = await startServer({
      clients: [{ ...GATEWAY, grantTypes: ['client_credentials'] }],
    });

    const response = await postToken(
      tokenUrl,
      exchange().replace('gateway-secret', 'wrong-secret'),
    );

    await expectOAuthError(response, 401, 'invalid_client', 'client authentication failed');
  });
});

function credentialsOf(client: { clientId: string; clientSecret: string }) {
  return { client_id: client.clientId, client_secret: client.clientSecret };
}

describe('client targets', () => {
  const clients = [
    { ...GATEWAY, audiences: ['api://allowed'], resources: ['https://allowed.example/'] },
    { ...SERVICE, audiences: ['api://allowed'] },
  ];

  it('rejects audience outside audiences', async () => {
    const { url, tokenUrl } = await startServer({ clients });

    const response = await postToken(tokenUrl, exchange([['audience', 'api://other']]));

    await expectOAuthError(
      response,
      400,
      'invalid_target',
      'audience is not allowed for this client',
    );
    const entry = await lastLogEntry(url);
    expect(entry.outcome.detail).toBe(
      'audience "api://other" is not in the audiences of client "gateway"',
    );
  });

  it('rejects resource outside resources', async () => {
    const { url, tokenUrl } = await startServer({ clients });

    const response = await postToken(
      tokenUrl,
      exchange([
        ['resource', 'https://allowed.example/'],
        ['resource', 'https://other.example/'],
      ]),
    );

    await expectOAuthError(
      response,
      400,
      'invalid_target',
      'resource is not allowed for this client (value 2)',
    );
    const entry = await lastLogEntry(url);
    expect(entry.outcome.detail).toBe(
      'resource "https://other.example/" is not in the resources of client "gateway"',
    );
  });

  it('accepts allowed audience and resource', async () => {
    const { tokenUrl } = await startServer({ clients });

    const response = await postToken(
      tokenUrl,
      exchange([
        ['audience', 'api://allowed'],
        ['resource', 'https://allowed.example/'],
      ]),
    );

    expect(response.status).toBe(200);
  });

  it('accepts request without target', async () => {
    const { tokenUrl } = await startServer({ clients });

    const response = await postToken(tokenUrl, exchange());

    expect(response.status).toBe(200);
  });

  it('any resource without resources list', async () => {
    const { tokenUrl } = await startServer({ clients });

    const response = await postToken(
      tokenUrl,
      clientCredentials([['resource', 'https://anything.example/']]),
    );

    expect(response.status).toBe(200);
  });

  it('client_credentials rejects other audience', async () => {
    const { tokenUrl } = await startServer({ clients });

    const response = await postToken(tokenUrl, clientCredentials([['audience', 'api://other']]));

    await expectOAuthError(
      response,
      400,
      'invalid_target',
      'audience is not allowed for this client',
    );
  });
});

describe('audience scope policy', () => {
  const audiences = { 'api://docs': { scopes: ['read', 'list'] } };

  it('reject policy rejects extra scope', async () => {
    const { url, tokenUrl } = await startServer({ audiences });

    const response = await postToken(
      tokenUrl,
      exchange([
        ['audience', 'api://docs'],
        ['scope', 'read write admin'],
      ]),
    );

    await expectOAuthError(
      response,
      400,
      'invalid_scope',
      'scope not allowed at the requested target: write admin',
    );
    const entry = await lastLogEntry(url);
    expect(entry.outcome.detail).toBe('"api://docs" allows only: read list');
  });

  it('reject policy grants allowed scope', async () => {
    const { tokenUrl } = await startServer({ audiences });

    const response = await postToken(
      tokenUrl,
      exchange([
        ['audience', 'api://docs'],
        ['scope', 'read'],
      ]),
    );

    expect((await expectTokenResponse(response)).scope).toBe('read');
  });

  it('global narrow grants intersection', async () => {
    const { tokenUrl } = await startServer({ audiences, scopePolicy: 'narrow' });

    const response = await postToken(
      tokenUrl,
      exchange([
        ['audience', 'api://docs'],
        ['scope', 'write read admin'],
      ]),
    );

    expect(await expectTokenResponse(response)).toEqual({
      access_token: expect.stringMatching(/^exchanged-[0-9a-f]{16}-for-api:\/\/docs$/),
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: 3600,
      scope: 'read',
    });
  });

  it('audience narrow overrides global', async () => {
    const { tokenUrl } = await startServer({
      audiences: { 'api://docs': { scopes: ['read'], scopePolicy: 'narrow' } },
    });

    const response = await postToken(
      tokenUrl,
      exchange([
        ['audience', 'api://docs'],
        ['scope', 'read write'],
      ]),
    );

    expect((await expectTokenResponse(response)).scope).toBe('read');
  });

  it('audience reject overrides global', async () => {
    const { tokenUrl } = await startServer({
      scopePolicy: 'narrow',
      audiences: { 'api://docs': { scopes: ['read'], scopePolicy: 'reject' } },
    });

    const response = await postToken(
      tokenUrl,
      exchange([
        ['audience', 'api://docs'],
        ['scope', 'read write'],
      ]),
    );

    await expectOAuthError(
      response,
      400,
      'invalid_scope',
      'scope not allowed at the requested target: write',
    );
  });

  it('narrow to nothing rejects', async () => {
    const { url, tokenUrl } = await startServer({ audiences, scopePolicy: 'narrow' });

    const response = await postToken(
      tokenUrl,
      exchange([
        ['audience', 'api://docs'],
        ['scope', 'write'],
      ]),
    );

    await expectOAuthError(
      response,
      400,
      'invalid_scope',
      'no requested scope is allowed at the requested targets',
    );
    const entry = await lastLogEntry(url);
    expect(entry.outcome.detail).toBe('"api://docs" allows read list');
  });

  it('multiple targets narrow to common', async () => {
    const { tokenUrl } = await startServer({
      scopePolicy: 'narrow',
      audiences: {
        'api://docs': { scopes: ['read', 'write'] },
        'https://files.example/': { scopes: ['read', 'delete'] },
      },
    });

    const response = await postToken(
      tokenUrl,
      exchange([
        ['audience', 'api://docs'],
        ['resource', 'https://files.example/'],
        ['scope', 'read write delete'],
      ]),
    );

    expect((await expectTokenResponse(response)).scope).toBe('read');
  });

  it('multiple targets reject at one', async () => {
    const { url, tokenUrl } = await startServer({
      audiences: {
        'api://docs': { scopes: ['read', 'write'] },
        'https://files.example/': { scopes: ['read'] },
      },
    });

    const response = await postToken(
      tokenUrl,
      exchange([
        ['audience', 'api://docs'],
        ['resource', 'https://files.example/'],
        ['scope', 'read write'],
      ]),
    );

    await expectOAuthError(
      response,
      400,
      'invalid_scope',
      'scope not allowed at the requested target: write',
    );
    const entry = await lastLogEntry(url);
    expect(entry.outcome.detail).toBe('"https://files.example/" allows only: read');
  });

  it('target without scopes allows any', async () => {
    const { tokenUrl } = await startServer({ audiences });

    const response = await postToken(
      tokenUrl,
      exchange([
        ['audience', 'api://elsewhere'],
        ['scope', 'anything'],
      ]),
    );

    expect((await expectTokenResponse(response)).scope).toBe('anything');
  });

  it('omitted scope grants allowed scopes', async () => {
    const { tokenUrl } = await startServer({ audiences });

    const response = await postToken(tokenUrl, exchange([['audience', 'api://docs']]));

    expect((await expectTokenResponse(response)).scope).toBe('read list');
  });

  it('omitted scope intersects subject scopes', async () => {
    const { tokenUrl } = await startServer({ audiences });
    const subject = unsignedSubject({ scope: 'admin read' });

    const response = await postToken(
      tokenUrl,
      form([
        ['grant_type', TOKEN_EXCHANGE],
        ['subject_token', subject],
        ['subject_token_type', ACCESS_TOKEN_TYPE],
        ['audience', 'api://docs'],
        ...Object.entries(credentialsOf(GATEWAY)),
      ]),
    );

    expect((await expectTokenResponse(response)).scope).toBe('read');
  });

  it('subject scope bound still rejects', async () => {
    const { tokenUrl } = await startServer({ audiences, scopePolicy: 'narrow' });
    const subject = unsignedSubject({ scope: 'list' });

    const response = await postToken(
      tokenUrl,
      form([
        ['grant_type', TOKEN_EXCHANGE],
        ['subject_token', subject],
        ['subject_token_type', ACCESS_TOKEN_TYPE],
        ['audience', 'api://docs'],
        ['scope', 'read'],
        ...Object.entries(credentialsOf(GATEWAY)),
      ]),
    );

    await expectOAuthError(
      response,
      400,
      'invalid_scope',
      'requested scope exceeds the scope of the subject token',
    );
  });

  it('client_credentials narrows scope', async () => {
    const { tokenUrl } = await startServer({ audiences, scopePolicy: 'narrow' });

    const response = await postToken(
      tokenUrl,
      clientCredentials([
        ['audience', 'api://docs'],
        ['scope', 'list write'],
      ]),
    );

    expect((await expectTokenResponse(response)).scope).toBe('list');
  });

  it('client_credentials omitted scope gets allowed', async () => {
    const { tokenUrl } = await startServer({ audiences });

    const response = await postToken(tokenUrl, clientCredentials([['audience', 'api://docs']]));

    expect((await expectTokenResponse(response)).scope).toBe('read list');
  });
});

describe('token lifetime precedence', () => {
  const options: ServerOptions = {
    tokenTtl: 3600,
    clients: [{ ...GATEWAY, tokenTtl: 600 }, { ...SERVICE }],
    audiences: {
      'api://short': { tokenTtl: 120 },
      'api://shorter': { tokenTtl: 60 },
      'api://plain': { tokenFormat: 'opaque' },
    },
  };

  it.each([
    ['global without overrides', SERVICE, [], 3600],
    ['client over global', GATEWAY, [], 600],
    ['client when audience unset', GATEWAY, [['audience', 'api://plain']], 600],
    ['audience over client', GATEWAY, [['audience', 'api://short']], 120],
    ['audience over global', SERVICE, [['audience', 'api://short']], 120],
    [
      'smallest of two audiences',
      GATEWAY,
      [
        ['audience', 'api://short'],
        ['audience', 'api://shorter'],
      ],
      60,
    ],
  ] as const)('%s', async (_name, client, targets, expected) => {
    const { tokenUrl } = await startServer(options);

    const response = await postToken(
      tokenUrl,
      form([
        ['grant_type', TOKEN_EXCHANGE],
        ['subject_token', UNSIGNED_USER_JWT],
        ['subject_token_type', ACCESS_TOKEN_TYPE],
        ...Object.entries(credentialsOf(client)),
        ...targets.map((pair): [string, string] => [pair[0], pair[1]]),
      ]),
    );

    expect((await expectTokenResponse(response)).expires_in).toBe(expected);
  });

  it('subject exp caps audience ttl', async () => {
    const { tokenUrl } = await startServer(options);
    const subject = unsignedSubject({ exp: NOW + 30 });

    const response = await postToken(
      tokenUrl,
      form([
        ['grant_type', TOKEN_EXCHANGE],
        ['subject_token', subject],
        ['subject_token_type', ACCESS_TOKEN_TYPE],
        ['audience', 'api://short'],
        ...Object.entries(credentialsOf(GATEWAY)),
      ]),
    );

    expect((await expectTokenResponse(response)).expires_in).toBe(30);
  });

  it('client_credentials uses client ttl', async () => {
    const { tokenUrl } = await startServer({
      clients: [{ ...SERVICE, tokenTtl: 900 }],
    });

    const response = await postToken(tokenUrl, clientCredentials());

    expect((await expectTokenResponse(response)).expires_in).toBe(900);
  });
});

describe('claim placeholders', () => {
  it('expands placeholders in JWT claims', async () => {
    const { tokenUrl } = await startServer({
      keys: { file: SIGNING_KEYS_FILE },
      tokenFormat: 'jwt',
      claims: { tenant: 'tenant-of-{client_id}', untouched: '{nope} {SUB}' },
      clients: [{ ...GATEWAY, claims: { owner: 'user:{sub}', level: 3 } }],
      audiences: {
        'api://docs': {
          claims: {
            target: '{aud}',
            granted: '[{scope}]',
            nested: { list: ['{sub}@{aud}', '{unknown}'] },
          },
        },
      },
    });

    const response = await postToken(
      tokenUrl,
      exchange([
        ['audience', 'api://docs'],
        ['audience', 'api://second'],
        ['scope', 'read write'],
      ]),
    );
    const claims = decodeJwt((await expectTokenResponse(response)).access_token as string);

    expect(claims).toEqual({
      tenant: 'tenant-of-gateway',
      untouched: '{nope} {SUB}',
      owner: 'user:user-123',
      level: 3,
      target: 'api://docs',
      granted: '[read write]',
      nested: { list: ['user-123@api://docs', '{unknown}'] },
      iss: expect.any(String),
      sub: 'user-123',
      aud: ['api://docs', 'api://second'],
      client_id: 'gateway',
      scope: 'read write',
      iat: NOW,
      exp: NOW + 3600,
      jti: expect.any(String),
    });
  });

  it('aud is issuer without target', async () => {
    const { url, tokenUrl } = await startServer({
      keys: { file: SIGNING_KEYS_FILE },
      tokenFormat: 'jwt',
      claims: { target: '{aud}', granted: '{scope}' },
    });

    const response = await postToken(tokenUrl, exchange());
    const claims = decodeJwt((await expectTokenResponse(response)).access_token as string);

    expect(claims.target).toBe(url);
    expect(claims.granted).toBe('');
  });

  it('client_credentials sub is client', async () => {
    const { tokenUrl } = await startServer({
      keys: { file: SIGNING_KEYS_FILE },
      tokenFormat: 'jwt',
      clients: [{ ...SERVICE, claims: { who: '{sub}/{client_id}' } }],
    });

    const response = await postToken(tokenUrl, clientCredentials());
    const claims = decodeJwt((await expectTokenResponse(response)).access_token as string);

    expect(claims.who).toBe('service/service');
  });

  it('registered claims still win', async () => {
    const { tokenUrl } = await startServer({
      keys: { file: SIGNING_KEYS_FILE },
      tokenFormat: 'jwt',
      claims: { sub: 'forged-{sub}' },
    });

    const response = await postToken(tokenUrl, exchange());
    const claims = decodeJwt((await expectTokenResponse(response)).access_token as string);

    expect(claims.sub).toBe('user-123');
  });
});

describe('policy config errors', () => {
  it.each([
    [
      { clients: [{ clientId: 'a', clientSecret: 's', public: true }] },
      'clients[0].public: a public client must not have a clientSecret (received a boolean, value hidden)',
    ],
    [
      { clients: [{ clientId: 'a' }, { clientId: 'b', public: false }] },
      'clients[1].public: a confidential client needs a clientSecret (received a boolean, value hidden)',
    ],
    [
      {
        clients: [
          { clientId: 'a', clientSecret: 's', authMethods: ['client_secret_post', 'none'] },
        ],
      },
      'clients[0].authMethods[1]: a client with a clientSecret must authenticate with it, not by none (received a string, value hidden)',
    ],
    [
      { clients: [{ clientId: 'a', authMethods: ['client_secret_basic'] }] },
      'clients[0].authMethods[0]: a client without a clientSecret can only use none (received a string, value hidden)',
    ],
    [
      { clients: [{ clientId: 'a', authMethods: ['private_key_jwt'] }] },
      'clients[0].authMethods[0]: Invalid option: expected one of "client_secret_basic"|"client_secret_post"|"none" (received a string, value hidden)',
    ],
    [
      { clients: [{ clientId: 'a', grantTypes: ['password'] }] },
      `clients[0].grantTypes[0]: Invalid option: expected one of "${TOKEN_EXCHANGE}"|"client_credentials" (received a string, value hidden)`,
    ],
    [
      { clients: [{ clientId: 'a', grantTypes: [] }] },
      'clients[0].grantTypes: Too small: expected array to have >=1 items (received an array, value hidden)',
    ],
    [
      { clients: [{ clientId: 'a', tokenTtl: 0 }] },
      'clients[0].tokenTtl: Too small: expected number to be >=1 (received a number, value hidden)',
    ],
    [
      { clients: [{ clientId: 'a', audiences: 'api://a' }] },
      'clients[0].audiences: Invalid input: expected array, received string (received a string, value hidden)',
    ],
    [
      { audiences: { 'api://a': { scopes: ['read write'] } } },
      'audiences.api://a.scopes[0]: must be an RFC 6749 §3.3 scope token (received "read write")',
    ],
    [
      { audiences: { 'api://a': { scopePolicy: 'drop' } } },
      'audiences.api://a.scopePolicy: Invalid option: expected one of "reject"|"narrow" (received "drop")',
    ],
    [
      { audiences: { 'api://a': { tokenTtl: 31_536_001 } } },
      'audiences.api://a.tokenTtl: Too big: expected number to be <=31536000 (received 31536001)',
    ],
    [
      { scopePolicy: 'drop' },
      'scopePolicy: Invalid option: expected one of "reject"|"narrow" (received "drop")',
    ],
  ])('rejects %j', (options, expected) => {
    expect(configError(options)).toBe(`invalid configuration:\n${expected}`);
  });

  it('accepts consistent public client', () => {
    expect(() =>
      createServer({
        clients: [
          { clientId: 'app', public: true, authMethods: ['none'] },
          { ...GATEWAY, public: false, authMethods: ['client_secret_basic'] },
        ],
      }),
    ).not.toThrow();
  });
});
