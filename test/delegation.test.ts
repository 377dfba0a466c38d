import { createLocalJWKSet, decodeJwt, type JWTPayload, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { fingerprint } from '../src/tokens/fingerprint.js';
import { ACCESS_TOKEN_TYPE, postToken, startServer, type TestServer } from './helpers.js';
import {
  exchangeFor,
  exchangeSubject,
  expectRejected,
  FINGERPRINT_SUBJECT,
  NOW,
  publicJwk,
  SIGNING_KEYS_FILE,
  signToken,
  startVerifyServer,
} from './subject-tokens.js';
import { expectTokenResponse } from './token-assertions.js';

/** Public keys of the fixture signing key file, to verify issued JWTs independently. */
const SERVER_KEYS = createLocalJWKSet({
  keys: ['test-rs256', 'test-ps256', 'test-es256', 'test-eddsa', 'test-rs256-next'].map(publicJwk),
});

/** Signs an access token of the server at `url` for `sub`. */
function accessToken(url: string, sub: string, extra: JWTPayload = {}): Promise<string> {
  return signToken({ iss: url, sub, aud: url, iat: NOW, exp: NOW + 3600, ...extra });
}

/** Posts an exchange and returns the claims of the issued JWT. */
async function issuedClaims(response: Response): Promise<JWTPayload> {
  const body = await expectTokenResponse(response);
  return decodeJwt(body.access_token as string);
}

/** Exchanges `subjectToken` by `clientId` with an actor token and returns the response. */
function delegate(
  server: TestServer,
  subjectToken: string,
  actorToken: string,
  clientId: string,
  extra: Record<string, string> = {},
): Promise<Response> {
  return postToken(
    server.tokenUrl,
    exchangeFor(subjectToken, clientId, {
      actor_token: actorToken,
      actor_token_type: ACCESS_TOKEN_TYPE,
      ...extra,
    }),
  );
}

describe('delegation chain', () => {
  /**
   * Exchanges a user token by agent A with A's actor token, then the result by agent B with B's
   * actor token, and returns both response bodies.
   */
  async function twoHops(server: TestServer) {
    const user = await accessToken(server.url, 'user-42', {
      scope: 'files.read files.write mail.send',
      exp: NOW + 1800,
    });
    const agentA = await accessToken(server.url, 'agent-a');
    const agentB = await accessToken(server.url, 'agent-b');
    const first = await expectTokenResponse(
      await delegate(server, user, agentA, 'agent-a', {
        audience: 'api://agent-b',
        scope: 'files.read files.write',
      }),
    );
    const second = await expectTokenResponse(
      await delegate(server, first.access_token as string, agentB, 'agent-b', {
        audience: 'api://files',
        scope: 'files.read',
      }),
    );
    return { first, second, agentB };
  }

  it('final token verifies', async () => {
    const server = await startVerifyServer();
    const { second } = await twoHops(server);
    const { protectedHeader } = await jwtVerify(second.access_token as string, SERVER_KEYS, {
      currentDate: new Date(NOW * 1000),
    });
    expect(protectedHeader).toEqual({ alg: 'RS256', kid: 'test-rs256', typ: 'at+jwt' });
  });

  it('final claims name every party', async () => {
    const server = await startVerifyServer();
    const { second } = await twoHops(server);
    const claims = decodeJwt(second.access_token as string);
    expect(claims.iss).toBe(server.url);
    expect(claims.sub).toBe('user-42');
    expect(claims.act).toEqual({
      sub: 'agent-b',
      iss: server.url,
      act: { sub: 'agent-a', iss: server.url },
    });
    expect(claims.aud).toBe('api://files');
    expect(claims.client_id).toBe('agent-b');
    expect(claims.scope).toBe('files.read');
    expect(claims.iat).toBe(NOW);
    expect(claims.exp).toBe(NOW + 1800);
    expect(typeof claims.jti).toBe('string');
    expect(Object.keys(claims).sort()).toEqual(
      ['act', 'aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'scope', 'sub'].sort(),
    );
  });

  it('first hop names agent A', async () => {
    const server = await startVerifyServer();
    const { first } = await twoHops(server);
    const claims = decodeJwt(first.access_token as string);
    expect(claims.act).toEqual({ sub: 'agent-a', iss: server.url });
    expect(claims.client_id).toBe('agent-a');
    expect(claims.scope).toBe('files.read files.write');
    expect(claims.aud).toBe('api://agent-b');
  });

  it('never outlives the user token', async () => {
    const server = await startVerifyServer();
    const { first, second } = await twoHops(server);
    expect(first.expires_in).toBe(1800);
    expect(second.expires_in).toBe(1800);
  });

  it('second hop cannot widen scope', async () => {
    const server = await startVerifyServer();
    const { first, agentB } = await twoHops(server);
    const response = await delegate(server, first.access_token as string, agentB, 'agent-b', {
      scope: 'files.read mail.send',
    });
    await expectRejected(server, response, 'not in the subject token: mail.send', {
      error: 'invalid_scope',
      description: 'requested scope exceeds the scope of the subject token',
    });
  });

  it('third hop nests deeper', async () => {
    const server = await startVerifyServer();
    const { second } = await twoHops(server);
    const agentC = await accessToken(server.url, 'agent-c');
    const claims = await issuedClaims(
      await delegate(server, second.access_token as string, agentC, 'agent-c'),
    );
    expect(claims.act).toEqual({
      sub: 'agent-c',
      iss: server.url,
      act: { sub: 'agent-b', iss: server.url, act: { sub: 'agent-a', iss: server.url } },
    });
  });

  it('third hop exceeds maxDepth', async () => {
    const server = await startVerifyServer({ delegation: { maxDepth: 2 } });
    const { second } = await twoHops(server);
    const agentC = await accessToken(server.url, 'agent-c');
    const response = await delegate(server, second.access_token as string, agentC, 'agent-c');
    await expectRejected(
      server,
      response,
      'the act chain would be 3 deep; delegation.maxDepth is 2',
      { description: 'the delegation chain is too deep' },
    );
  });
});

describe('act claim content', () => {
  it('copies identity claims only', async () => {
    const server = await startVerifyServer();
    const user = await accessToken(server.url, 'user-42');
    const actor = await accessToken(server.url, 'agent-a', {
      email: 'agent-a@example.com',
      client_id: 'agent-a-client',
      nbf: NOW - 10,
      scope: 'everything',
      roles: ['admin'],
      jti: 'agent-token-1',
    });
    const claims = await issuedClaims(await delegate(server, user, actor, 'agent-a'));
    expect(claims.act).toEqual({
      sub: 'agent-a',
      iss: server.url,
      client_id: 'agent-a-client',
      email: 'agent-a@example.com',
    });
  });

  it('drops non-string identity claims', async () => {
    const server = await startVerifyServer();
    const user = await accessToken(server.url, 'user-42');
    const actor = await accessToken(server.url, 'agent-a', { name: { first: 'Agent' } });
    const claims = await issuedClaims(await delegate(server, user, actor, 'agent-a'));
    expect(claims.act).toEqual({ sub: 'agent-a', iss: server.url });
  });

  it('strips prior act claims', async () => {
    const server = await startVerifyServer();
    const user = await accessToken(server.url, 'user-42', {
      act: { sub: 'agent-0', exp: NOW + 5, aud: 'x', act: { sub: 'agent-00', iat: NOW } },
    });
    const actor = await accessToken(server.url, 'agent-b');
    const claims = await issuedClaims(await delegate(server, user, actor, 'agent-b'));
    expect(claims.act).toEqual({
      sub: 'agent-b',
      iss: server.url,
      act: { sub: 'agent-0', act: { sub: 'agent-00' } },
    });
  });

  it('names subless actor by fingerprint', async () => {
    const server = await startServer({ keys: { file: SIGNING_KEYS_FILE }, tokenFormat: 'jwt' });
    const response = await exchangeSubject(server, 'opaque-user-token', {
      actor_token: 'opaque-agent-token',
      actor_token_type: ACCESS_TOKEN_TYPE,
    });
    const claims = await issuedClaims(response);
    expect(claims.act).toEqual({
      sub: `${FINGERPRINT_SUBJECT}${fingerprint('opaque-agent-token')}`,
    });
  });
});

describe('malformed prior act', () => {
  it.each([
    ['a string', 'agent-0', 'act must be a JSON object, got a string'],
    ['an array', [{ sub: 'agent-0' }], 'act must be a JSON object, got an array'],
    ['null', null, 'act must be a JSON object, got null'],
    ['a nested number', { sub: 'agent-0', act: 5 }, 'act.act must be a JSON object, got a number'],
  ])('rejects act that is %s', async (_name, act, detail) => {
    const server = await startVerifyServer();
    const user = await accessToken(server.url, 'user-42', { act });
    const actor = await accessToken(server.url, 'agent-b');
    await expectRejected(server, await delegate(server, user, actor, 'agent-b'), detail, {
      description: 'the subject token has a malformed act claim',
    });
  });

  it('rejects without actor token', async () => {
    const server = await startVerifyServer();
    const user = await accessToken(server.url, 'user-42', { act: 'agent-0' });
    await expectRejected(
      server,
      await exchangeSubject(server, user),
      'act must be a JSON object, got a string',
      { description: 'the subject token has a malformed act claim' },
    );
  });

  it('follows errorCode switch', async () => {
    const server = await startVerifyServer({ subjectTokens: { errorCode: 'invalid_grant' } });
    const user = await accessToken(server.url, 'user-42', { act: ['agent-0'] });
    const actor = await accessToken(server.url, 'agent-b');
    await expectRejected(
      server,
      await delegate(server, user, actor, 'agent-b'),
      'act must be a JSON object, got an array',
      { error: 'invalid_grant', description: 'the subject token has a malformed act claim' },
    );
  });
});

describe('delegation maxDepth', () => {
  /** Builds an `act` chain of `depth` actors, agent-1 outermost. */
  function chain(depth: number): Record<string, unknown> {
    let act: Record<string, unknown> | undefined;
    for (let level = depth; level >= 1; level -= 1) {
      act = act === undefined ? { sub: `agent-${level}` } : { sub: `agent-${level}`, act };
    }
    return act ?? {};
  }

  it('accepts chain at maxDepth', async () => {
    const server = await startVerifyServer({ delegation: { maxDepth: 3 } });
    const user = await accessToken(server.url, 'user-42', { act: chain(2) });
    const actor = await accessToken(server.url, 'agent-0');
    const claims = await issuedClaims(await delegate(server, user, actor, 'agent-0'));
    expect(claims.act).toEqual({ sub: 'agent-0', iss: server.url, act: chain(2) });
  });

  it('rejects chain past maxDepth', async () => {
    const server = await startVerifyServer({ delegation: { maxDepth: 3 } });
    const user = await accessToken(server.url, 'user-42', { act: chain(3) });
    const actor = await accessToken(server.url, 'agent-0');
    await expectRejected(
      server,
      await delegate(server, user, actor, 'agent-0'),
      'the act chain would be 4 deep; delegation.maxDepth is 3',
      { description: 'the delegation chain is too deep' },
    );
  });

  it('rejects deep subject chain', async () => {
    const server = await startVerifyServer({ delegation: { maxDepth: 3 } });
    const user = await accessToken(server.url, 'user-42', { act: chain(4) });
    await expectRejected(
      server,
      await exchangeSubject(server, user),
      "the subject token's act chain is deeper than delegation.maxDepth 3",
      { description: 'the delegation chain is too deep' },
    );
  });

  it('follows errorCode switch', async () => {
    const server = await startVerifyServer({
      delegation: { maxDepth: 1 },
      subjectTokens: { errorCode: 'invalid_grant' },
    });
    const user = await accessToken(server.url, 'user-42', { act: chain(1) });
    const actor = await accessToken(server.url, 'agent-0');
    await expectRejected(
      server,
      await delegate(server, user, actor, 'agent-0'),
      'the act chain would be 2 deep; delegation.maxDepth is 1',
      { error: 'invalid_grant', description: 'the delegation chain is too deep' },
    );
  });
});

describe('impersonation and clientAsActor', () => {
  it('impersonation has no act', async () => {
    const server = await startVerifyServer();
    const user = await accessToken(server.url, 'user-42');
    const claims = await issuedClaims(await exchangeSubject(server, user));
    expect(claims.act).toBeUndefined();
  });

  it('clientAsActor names the client', async () => {
    const server = await startVerifyServer({ delegation: { clientAsActor: true } });
    const user = await accessToken(server.url, 'user-42');
    const claims = await issuedClaims(await exchangeSubject(server, user));
    expect(claims.act).toEqual({ sub: 'litellm-client' });
  });

  it('clientAsActor nests prior act', async () => {
    const server = await startVerifyServer({ delegation: { clientAsActor: true } });
    const user = await accessToken(server.url, 'user-42', { act: { sub: 'agent-a' } });
    const claims = await issuedClaims(await exchangeSubject(server, user));
    expect(claims.act).toEqual({ sub: 'litellm-client', act: { sub: 'agent-a' } });
  });

  it('actor token beats clientAsActor', async () => {
    const server = await startVerifyServer({ delegation: { clientAsActor: true } });
    const user = await accessToken(server.url, 'user-42');
    const actor = await accessToken(server.url, 'agent-a');
    const claims = await issuedClaims(await delegate(server, user, actor, 'litellm-client'));
    expect(claims.act).toEqual({ sub: 'agent-a', iss: server.url });
  });

  it('keeps prior act without actor', async () => {
    const server = await startVerifyServer();
    const user = await accessToken(server.url, 'user-42', {
      act: { sub: 'agent-a', iss: server.url, exp: NOW },
    });
    const claims = await issuedClaims(await exchangeSubject(server, user));
    expect(claims.act).toEqual({ sub: 'agent-a', iss: server.url });
  });
});

describe('may_act', () => {
  const mayAct = (value: unknown) => ({ may_act: value });

  it('accepts named actor', async () => {
    const server = await startVerifyServer();
    const user = await accessToken(server.url, 'user-42', mayAct({ sub: 'agent-a' }));
    const actor = await accessToken(server.url, 'agent-a');
    const claims = await issuedClaims(await delegate(server, user, actor, 'gateway'));
    expect(claims.act).toEqual({ sub: 'agent-a', iss: server.url });
  });

  it('does not copy may_act', async () => {
    const server = await startVerifyServer();
    const user = await accessToken(server.url, 'user-42', mayAct({ sub: 'agent-a' }));
    const actor = await accessToken(server.url, 'agent-a');
    const claims = await issuedClaims(await delegate(server, user, actor, 'gateway'));
    expect(claims.may_act).toBeUndefined();
  });

  it('compares every listed claim', async () => {
    const server = await startVerifyServer();
    const user = await accessToken(
      server.url,
      'user-42',
      mayAct({ sub: 'agent-a', iss: 'https://idp.example' }),
    );
    const actor = await accessToken(server.url, 'agent-a');
    await expectRejected(
      server,
      await delegate(server, user, actor, 'gateway'),
      `may_act {"sub":"agent-a","iss":"https://idp.example"} does not name the actor token {"sub":"agent-a","iss":"${server.url}"}`,
      { description: 'the subject token does not allow this actor (may_act)' },
    );
  });

  it('rejects unnamed actor', async () => {
    const server = await startVerifyServer();
    const user = await accessToken(server.url, 'user-42', mayAct({ sub: 'agent-a' }));
    const actor = await accessToken(server.url, 'agent-x');
    await expectRejected(
      server,
      await delegate(server, user, actor, 'gateway'),
      `may_act {"sub":"agent-a"} does not name the actor token {"sub":"agent-x","iss":"${server.url}"}`,
      { description: 'the subject token does not allow this actor (may_act)' },
    );
  });

  it('rejects unnamed client', async () => {
    const server = await startVerifyServer();
    const user = await accessToken(server.url, 'user-42', mayAct({ sub: 'agent-a' }));
    await expectRejected(
      server,
      await exchangeSubject(server, user),
      'may_act {"sub":"agent-a"} does not name the authenticated client {"sub":"litellm-client","client_id":"litellm-client"}',
      { description: 'the subject token does not allow this actor (may_act)' },
    );
  });

  it('named client impersonates', async () => {
    const server = await startVerifyServer();
    const user = await accessToken(server.url, 'user-42', mayAct({ sub: 'litellm-client' }));
    const claims = await issuedClaims(await exchangeSubject(server, user));
    expect(claims.act).toBeUndefined();
  });

  it('named client by client_id', async () => {
    const server = await startVerifyServer();
    const user = await accessToken(server.url, 'user-42', mayAct({ client_id: 'litellm-client' }));
    expect((await exchangeSubject(server, user)).status).toBe(200);
  });

  it('named client with clientAsActor', async () => {
    const server = await startVerifyServer({ delegation: { clientAsActor: true } });
    const user = await accessToken(server.url, 'user-42', mayAct({ sub: 'litellm-client' }));
    const claims = await issuedClaims(await exchangeSubject(server, user));
    expect(claims.act).toEqual({ sub: 'litellm-client' });
  });

  it('rejects may_act naming nobody', async () => {
    const server = await startVerifyServer();
    const user = await accessToken(server.url, 'user-42', mayAct({ role: 'admin' }));
    await expectRejected(
      server,
      await exchangeSubject(server, user),
      'may_act names no actor: it has none of the string claims sub, iss, client_id, email, name, preferred_username',
      { description: 'the subject token does not allow this actor (may_act)' },
    );
  });

  it('rejects non-object may_act', async () => {
    const server = await startVerifyServer();
    const user = await accessToken(server.url, 'user-42', mayAct('agent-a'));
    await expectRejected(
      server,
      await exchangeSubject(server, user),
      'may_act must be a JSON object, got a string',
    );
  });

  it('follows errorCode switch', async () => {
    const server = await startVerifyServer({ subjectTokens: { errorCode: 'invalid_grant' } });
    const user = await accessToken(server.url, 'user-42', mayAct({ sub: 'agent-a' }));
    const actor = await accessToken(server.url, 'agent-x');
    await expectRejected(
      server,
      await delegate(server, user, actor, 'gateway'),
      `may_act {"sub":"agent-a"} does not name the actor token {"sub":"agent-x","iss":"${server.url}"}`,
      {
        error: 'invalid_grant',
        description: 'the subject token does not allow this actor (may_act)',
      },
    );
  });
});

describe('subject scope claim', () => {
  it('rejects scope beyond subject', async () => {
    const server = await startVerifyServer();
    const user = await accessToken(server.url, 'user-42', { scope: 'files.read files.write' });
    await expectRejected(
      server,
      await exchangeSubject(server, user, { scope: 'files.read admin' }),
      'not in the subject token: admin',
      {
        error: 'invalid_scope',
        description: 'requested scope exceeds the scope of the subject token',
      },
    );
  });

  it('grants subject scope when omitted', async () => {
    const server = await startVerifyServer();
    const user = await accessToken(server.url, 'user-42', { scope: 'files.read files.write' });
    const body = await expectTokenResponse(await exchangeSubject(server, user));
    expect(body.scope).toBe('files.read files.write');
    expect(decodeJwt(body.access_token as string).scope).toBe('files.read files.write');
  });

  it('grants narrower request', async () => {
    const server = await startVerifyServer();
    const user = await accessToken(server.url, 'user-42', { scope: 'files.read files.write' });
    const body = await expectTokenResponse(
      await exchangeSubject(server, user, { scope: 'files.write' }),
    );
    expect(body.scope).toBe('files.write');
  });

  it('scope unlimited without claim', async () => {
    const server = await startVerifyServer();
    const user = await accessToken(server.url, 'user-42');
    const body = await expectTokenResponse(
      await exchangeSubject(server, user, { scope: 'anything.at.all' }),
    );
    expect(body.scope).toBe('anything.at.all');
  });
});
