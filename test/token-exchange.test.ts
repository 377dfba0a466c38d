import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalExchangeInput } from '../src/tokens/opaque.js';
import {
  ACCESS_TOKEN_TYPE,
  exchangeBody,
  form,
  JWT_TOKEN_TYPE,
  postToken,
  startServer,
  UNSIGNED_USER_JWT,
} from './helpers.js';
import { expectOAuthError, expectTokenResponse, issueToken } from './token-assertions.js';

const TOKEN_TYPE_PREFIX = 'urn:ietf:params:oauth:token-type:';
const SAML1_TOKEN_TYPE = `${TOKEN_TYPE_PREFIX}saml1`;
const SAML2_TOKEN_TYPE = `${TOKEN_TYPE_PREFIX}saml2`;

/** Token issued for `exchangeBody()` by client `litellm-client`. */
const README_TOKEN = 'exchanged-53a23a852c28f3be-for-api://my-mcp-server';

/** A request body as a client library sends it, with an explicit requested_token_type. */
const LIBRARY_BODY =
  'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange' +
  '&subject_token=user-jwt-abc' +
  '&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token' +
  '&requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token' +
  '&client_id=litellm-client&client_secret=litellm-secret' +
  '&audience=api%3A%2F%2Fmy-mcp-server&scope=mcp.tools.read+mcp.tools.execute';

/** The same exchange with the client in a Basic header instead of the body. */
const BASIC_BODY =
  'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange' +
  '&subject_token=user-jwt-abc' +
  '&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token' +
  '&audience=api%3A%2F%2Fmy-mcp-server&scope=mcp.tools.read+mcp.tools.execute';

/** RFC 6749 §2.3.1 Basic credentials for client `cli:ent` with secret `s3cr+t/=`. */
const BASIC_HEADERS = {
  accept: 'application/json',
  authorization: 'Basic Y2xpJTNBZW50OnMzY3IlMkJ0JTJGJTNE',
};

/** Returns the 16 hex characters of a token that hash its canonical input. */
function tokenHash(token: string): string {
  const match = /^exchanged-([0-9a-f]{16})(?:-for-.*)?$/.exec(token);
  if (!match?.[1]) throw new Error(`not an exchanged token: ${token}`);
  return match[1];
}

/** `exchangeBody()` with extra pairs appended, keeping repeats. */
function bodyWith(...extra: Array<[string, string]>): string {
  return form([...new URLSearchParams(exchangeBody()).entries(), ...extra]);
}

describe('token exchange success', () => {
  it('exchanges the README curl request', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, exchangeBody());
    expect(await expectTokenResponse(response)).toEqual({
      access_token: README_TOKEN,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: 3600,
      scope: 'mcp.tools.read mcp.tools.execute',
    });
  });

  it('exchanges a client library body', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, LIBRARY_BODY);
    expect(await expectTokenResponse(response)).toEqual({
      access_token: 'exchanged-5408775b1b4baf15-for-api://my-mcp-server',
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: 3600,
      scope: 'mcp.tools.read mcp.tools.execute',
    });
  });

  const basicExpected = {
    access_token: 'exchanged-c46bebbc019ef294-for-api://my-mcp-server',
    issued_token_type: ACCESS_TOKEN_TYPE,
    token_type: 'Bearer',
    expires_in: 3600,
    scope: 'mcp.tools.read mcp.tools.execute',
  };

  it('exchanges with encoded Basic credentials', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, BASIC_BODY, BASIC_HEADERS);
    expect(await expectTokenResponse(response)).toEqual(basicExpected);
  });

  it('exchanges for a registered cli:ent', async () => {
    const { tokenUrl } = await startServer({
      clients: [{ clientId: 'cli:ent', clientSecret: 's3cr+t/=' }],
    });
    const response = await postToken(tokenUrl, BASIC_BODY, BASIC_HEADERS);
    expect(await expectTokenResponse(response)).toEqual(basicExpected);
  });
});

describe('token exchange response', () => {
  // RFC 8693 §2.2.1: access_token, issued_token_type and token_type are required.
  it('has exactly the expected members', async () => {
    const { tokenUrl } = await startServer();
    const json = await expectTokenResponse(await postToken(tokenUrl, exchangeBody()));
    expect(Object.keys(json).sort()).toEqual([
      'access_token',
      'expires_in',
      'issued_token_type',
      'scope',
      'token_type',
    ]);
  });

  it('sends expires_in as a number', async () => {
    const { tokenUrl } = await startServer();
    const json = await expectTokenResponse(await postToken(tokenUrl, exchangeBody()));
    expect(typeof json.expires_in).toBe('number');
  });

  it('takes expires_in from tokenTtl', async () => {
    const { tokenUrl } = await startServer({ tokenTtl: 120 });
    const json = await expectTokenResponse(await postToken(tokenUrl, exchangeBody()));
    expect(json.expires_in).toBe(120);
  });
});

describe('token exchange required parameters', () => {
  // RFC 8693 §2.1: subject_token and subject_token_type are required.
  it('rejects missing subject_token', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, exchangeBody({ subject_token: undefined }));
    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'missing required parameter subject_token',
    );
  });

  it('rejects missing subject_token_type', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, exchangeBody({ subject_token_type: undefined }));
    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'missing required parameter subject_token_type',
    );
  });

  it('names both missing subject parameters', async () => {
    const { tokenUrl } = await startServer();
    const body = exchangeBody({ subject_token: undefined, subject_token_type: undefined });
    const response = await postToken(tokenUrl, body);
    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'missing required parameter subject_token and subject_token_type',
    );
  });
});

describe('token exchange actor token', () => {
  // RFC 8693 §2.1: actor_token_type is required with actor_token and forbidden without it.
  it('rejects actor_token without type', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, bodyWith(['actor_token', 'agent-token']));
    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'actor_token_type is required when actor_token is present',
    );
  });

  it('rejects actor_token_type without token', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, bodyWith(['actor_token_type', ACCESS_TOKEN_TYPE]));
    await expectOAuthError(
      response,
      400,
      'invalid_request',
      'actor_token_type must not be sent without actor_token',
    );
  });

  it('accepts actor_token with its type', async () => {
    const { tokenUrl } = await startServer();
    const body = bodyWith(['actor_token', 'agent-token'], ['actor_token_type', ACCESS_TOKEN_TYPE]);
    const token = await issueToken(tokenUrl, body);
    expect(token).not.toBe(README_TOKEN);
  });

  it('rejects an unsupported actor_token_type', async () => {
    const { tokenUrl } = await startServer();
    const body = bodyWith(['actor_token', 'agent-token'], ['actor_token_type', SAML1_TOKEN_TYPE]);
    const response = await postToken(tokenUrl, body);
    await expectOAuthError(response, 400, 'invalid_request', 'unsupported actor_token_type');
  });
});

describe('token exchange subject_token_type', () => {
  // This server compares token type URIs exactly, case included.
  it.each([
    SAML1_TOKEN_TYPE,
    'urn:example:unknown',
    'URN:IETF:PARAMS:OAUTH:TOKEN-TYPE:ACCESS_TOKEN',
  ])('rejects %s', async (subjectTokenType) => {
    const { tokenUrl } = await startServer();
    const response = await postToken(
      tokenUrl,
      exchangeBody({ subject_token_type: subjectTokenType }),
    );
    await expectOAuthError(response, 400, 'invalid_request', 'unsupported subject_token_type');
  });

  it.each([
    ACCESS_TOKEN_TYPE,
    JWT_TOKEN_TYPE,
    `${TOKEN_TYPE_PREFIX}id_token`,
    `${TOKEN_TYPE_PREFIX}refresh_token`,
  ])('accepts %s by default', async (subjectTokenType) => {
    const { tokenUrl } = await startServer();
    const response = await postToken(
      tokenUrl,
      exchangeBody({ subject_token_type: subjectTokenType }),
    );
    expect(response.status).toBe(200);
  });

  it('follows subjectTokenTypes option', async () => {
    const { tokenUrl } = await startServer({ subjectTokenTypes: [SAML2_TOKEN_TYPE] });
    const saml = await postToken(tokenUrl, exchangeBody({ subject_token_type: SAML2_TOKEN_TYPE }));
    const access = await postToken(tokenUrl, exchangeBody());
    expect(saml.status).toBe(200);
    await expectOAuthError(access, 400, 'invalid_request', 'unsupported subject_token_type');
  });
});

describe('token exchange requested_token_type', () => {
  it('defaults to access_token', async () => {
    const { tokenUrl } = await startServer();
    const explicit = await postToken(
      tokenUrl,
      exchangeBody({ requested_token_type: ACCESS_TOKEN_TYPE }),
    );
    expect(await expectTokenResponse(explicit)).toEqual({
      access_token: README_TOKEN,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: 3600,
      scope: 'mcp.tools.read mcp.tools.execute',
    });
  });

  it.each([`${TOKEN_TYPE_PREFIX}id_token`, `${TOKEN_TYPE_PREFIX}refresh_token`, SAML2_TOKEN_TYPE])(
    'rejects requested %s',
    async (requestedTokenType) => {
      const { tokenUrl } = await startServer();
      const response = await postToken(
        tokenUrl,
        exchangeBody({ requested_token_type: requestedTokenType }),
      );
      await expectOAuthError(
        response,
        400,
        'invalid_request',
        'requested_token_type cannot be issued by this server',
      );
    },
  );
});

describe('token exchange resource', () => {
  // RFC 8707 §2: a resource is an absolute URI without a fragment.
  it('rejects a fragment', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(
      tokenUrl,
      bodyWith(['resource', 'https://mcp-a.example/mcp#x']),
    );
    await expectOAuthError(response, 400, 'invalid_target', 'resource must not contain a fragment');
  });

  it.each(['/mcp', 'not a uri'])('rejects non-absolute %s', async (resource) => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, bodyWith(['resource', resource]));
    await expectOAuthError(response, 400, 'invalid_target', 'resource must be an absolute URI');
  });

  it('names the invalid value position', async () => {
    const { tokenUrl } = await startServer();
    const body = bodyWith(['resource', 'https://ok.example/'], ['resource', '/mcp']);
    const response = await postToken(tokenUrl, body);
    await expectOAuthError(
      response,
      400,
      'invalid_target',
      'resource must be an absolute URI (value 2)',
    );
  });

  it('accepts a query in resource', async () => {
    const { tokenUrl } = await startServer();
    const body = exchangeBody({ audience: undefined, resource: 'https://mcp.example/mcp?x=1' });
    const token = await issueToken(tokenUrl, body);
    expect(token).toMatch(/^exchanged-[0-9a-f]{16}-for-https:\/\/mcp\.example\/mcp\?x=1$/);
  });

  it('accepts two resources', async () => {
    const { tokenUrl } = await startServer();
    const body = form([
      ...new URLSearchParams(exchangeBody({ audience: undefined })).entries(),
      ['resource', 'https://mcp-a.example/mcp'],
      ['resource', 'https://mcp-b.example/mcp'],
    ]);
    const token = await issueToken(tokenUrl, body);
    expect(token).toMatch(
      /^exchanged-[0-9a-f]{16}-for-https:\/\/mcp-a\.example\/mcp,https:\/\/mcp-b\.example\/mcp$/,
    );
  });

  it('lists audience before resource', async () => {
    const { tokenUrl } = await startServer();
    const body = form([
      ['resource', 'https://mcp.example/mcp'],
      ...new URLSearchParams(exchangeBody()).entries(),
    ]);
    const token = await issueToken(tokenUrl, body);
    expect(token).toMatch(
      /^exchanged-[0-9a-f]{16}-for-api:\/\/my-mcp-server,https:\/\/mcp\.example\/mcp$/,
    );
  });
});

describe('token exchange target limit', () => {
  const audiences = (count: number): Array<[string, string]> =>
    Array.from({ length: count }, (_, i): [string, string] => ['audience', `aud-${i}`]);

  // RFC 8693 §2.2.2: a target the server will not issue a token for gets invalid_target.
  it('accepts 20 targets', async () => {
    const { tokenUrl } = await startServer();
    const body = form([
      ...new URLSearchParams(exchangeBody({ audience: undefined })).entries(),
      ...audiences(20),
    ]);
    expect((await postToken(tokenUrl, body)).status).toBe(200);
  });

  it('rejects 21 targets', async () => {
    const { tokenUrl } = await startServer();
    const body = form([
      ...new URLSearchParams(exchangeBody({ audience: undefined })).entries(),
      ...audiences(11),
      ...Array.from({ length: 10 }, (_, i): [string, string] => [
        'resource',
        `https://r${i}.example/`,
      ]),
    ]);
    await expectOAuthError(
      await postToken(tokenUrl, body),
      400,
      'invalid_target',
      'too many audience and resource values, at most 20',
    );
  });

  it('follows maxTargets option', async () => {
    const { tokenUrl } = await startServer({ maxTargets: 2 });
    const body = form([
      ...new URLSearchParams(exchangeBody({ audience: undefined })).entries(),
      ...audiences(3),
    ]);
    await expectOAuthError(
      await postToken(tokenUrl, body),
      400,
      'invalid_target',
      'too many audience and resource values, at most 2',
    );
  });
});

describe('token exchange scope', () => {
  // RFC 6749 §3.3: scope tokens are %x21 / %x23-5B / %x5D-7E, separated by single spaces.
  it.each([
    ['a quote', 'a"b'],
    ['a backslash', 'a\\b'],
    ['a double space', 'a  b'],
    ['a leading space', ' a'],
    ['a trailing space', 'a '],
    ['a tab', 'a\tb'],
    ['non-ASCII', 'café'],
  ])('rejects %s', async (_name, scope) => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, exchangeBody({ scope }));
    await expectOAuthError(
      response,
      400,
      'invalid_scope',
      'scope must be scope tokens separated by single spaces',
    );
  });

  it('collapses duplicate scope tokens', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, exchangeBody({ scope: 'b a b a' }));
    const json = await expectTokenResponse(response);
    expect(json.scope).toBe('b a');
  });
});

describe('token determinism', () => {
  it('repeats the token for one request', async () => {
    const { tokenUrl } = await startServer();
    const first = await issueToken(tokenUrl, exchangeBody());
    const second = await issueToken(tokenUrl, exchangeBody());
    expect(second).toBe(first);
  });

  it('repeats the token across servers', async () => {
    const firstServer = await startServer();
    const secondServer = await startServer();
    const first = await issueToken(firstServer.tokenUrl, exchangeBody());
    const second = await issueToken(secondServer.tokenUrl, exchangeBody());
    expect(second).toBe(first);
  });

  it('ignores explicit access_token type', async () => {
    const { tokenUrl } = await startServer();
    const body = exchangeBody({ requested_token_type: ACCESS_TOKEN_TYPE });
    expect(await issueToken(tokenUrl, body)).toBe(await issueToken(tokenUrl, exchangeBody()));
  });

  const variations: Array<[string, string]> = [
    ['subject_token', exchangeBody({ subject_token: 'another-subject' })],
    ['subject_token_type', exchangeBody({ subject_token_type: JWT_TOKEN_TYPE })],
    ['actor_token', bodyWith(['actor_token', 'agent-token'], ['actor_token_type', JWT_TOKEN_TYPE])],
    ['audience', exchangeBody({ audience: 'api://other-server' })],
    ['resource', exchangeBody({ resource: 'https://mcp.example/mcp' })],
    ['scope', exchangeBody({ scope: 'mcp.tools.read' })],
    ['client_id', exchangeBody({ client_id: 'other-client' })],
  ];

  // The hash covers every exchange input, so the change shows even without the suffix.
  it.each(variations)('changes the hash with %s', async (_name, body) => {
    const { tokenUrl } = await startServer();
    const changed = await issueToken(tokenUrl, body);
    expect(tokenHash(changed)).not.toBe(tokenHash(README_TOKEN));
  });

  it('changes the hash with actor value', async () => {
    const { tokenUrl } = await startServer();
    const agentA = bodyWith(['actor_token', 'agent-a'], ['actor_token_type', JWT_TOKEN_TYPE]);
    const agentB = bodyWith(['actor_token', 'agent-b'], ['actor_token_type', JWT_TOKEN_TYPE]);
    const tokenA = await issueToken(tokenUrl, agentA);
    const tokenB = await issueToken(tokenUrl, agentB);
    expect(tokenHash(tokenA)).not.toBe(tokenHash(tokenB));
  });

  it('changes the hash with actor type', async () => {
    const { tokenUrl } = await startServer();
    const asJwt = bodyWith(['actor_token', 'agent'], ['actor_token_type', JWT_TOKEN_TYPE]);
    const asAccess = bodyWith(['actor_token', 'agent'], ['actor_token_type', ACCESS_TOKEN_TYPE]);
    const jwtToken = await issueToken(tokenUrl, asJwt);
    const accessToken = await issueToken(tokenUrl, asAccess);
    expect(tokenHash(jwtToken)).not.toBe(tokenHash(accessToken));
  });

  it('keeps the token across scope order', async () => {
    const { tokenUrl } = await startServer();
    const reordered = exchangeBody({ scope: 'mcp.tools.execute mcp.tools.read' });
    expect(await issueToken(tokenUrl, reordered)).toBe(README_TOKEN);
  });

  it('keeps the token across audience order', async () => {
    const { tokenUrl } = await startServer();
    const ab = `${exchangeBody({ audience: 'aud-a' })}&audience=aud-b`;
    const ba = `${exchangeBody({ audience: 'aud-b' })}&audience=aud-a`;
    const abToken = await issueToken(tokenUrl, ab);
    const baToken = await issueToken(tokenUrl, ba);
    expect(baToken).toBe(abToken);
  });

  it('keeps the token across resource order', async () => {
    const { tokenUrl } = await startServer();
    const first = bodyWith(['resource', 'https://a.example/'], ['resource', 'https://b.example/']);
    const second = bodyWith(['resource', 'https://b.example/'], ['resource', 'https://a.example/']);
    const firstToken = await issueToken(tokenUrl, first);
    const secondToken = await issueToken(tokenUrl, second);
    expect(secondToken).toBe(firstToken);
  });

  it('lists targets sorted, audiences first', async () => {
    const { tokenUrl } = await startServer();
    const body = `${exchangeBody({ audience: 'aud-b' })}&audience=aud-a&resource=https://r.example/`;
    const token = await issueToken(tokenUrl, body);
    expect(token).toBe(`exchanged-${tokenHash(token)}-for-aud-a,aud-b,https://r.example/`);
  });
});

describe('opaque token formula', () => {
  const readmeInput = {
    clientId: 'litellm-client',
    subjectToken: UNSIGNED_USER_JWT,
    subjectTokenType: ACCESS_TOKEN_TYPE,
    actorToken: undefined,
    actorTokenType: undefined,
    audiences: ['api://my-mcp-server'],
    resources: [],
    scopes: ['mcp.tools.read', 'mcp.tools.execute'],
    requestedTokenType: ACCESS_TOKEN_TYPE,
  };
  const readmeCanonical =
    '["v1","litellm-client","eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyLTEyMyJ9.",' +
    '"urn:ietf:params:oauth:token-type:access_token",null,null,["api://my-mcp-server"],[],' +
    '["mcp.tools.execute","mcp.tools.read"],"urn:ietf:params:oauth:token-type:access_token"]';

  it('pins the canonical input', () => {
    expect(canonicalExchangeInput(readmeInput)).toBe(readmeCanonical);
  });

  it('hashes the canonical input', async () => {
    const { tokenUrl } = await startServer();
    const hex = createHash('sha256').update(readmeCanonical, 'utf8').digest('hex');
    const expected = `exchanged-${hex.slice(0, 16)}-for-api://my-mcp-server`;
    expect(expected).toBe(README_TOKEN);
    expect(await issueToken(tokenUrl, exchangeBody())).toBe(expected);
  });

  it('omits the suffix without targets', async () => {
    const { tokenUrl } = await startServer();
    const token = await issueToken(tokenUrl, exchangeBody({ audience: undefined }));
    expect(token).toBe('exchanged-2dd6f1145eae2bd4');
  });
});
