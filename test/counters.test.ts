import { describe, expect, it } from 'vitest';
import { exchangeBody, postToken, startServer, UNSIGNED_USER_JWT } from './helpers.js';
import { expectTokenResponse } from './token-assertions.js';

async function counters(url: string): Promise<unknown> {
  const response = await fetch(`${url}/admin/counters`);
  expect(response.status).toBe(200);
  return response.json();
}

const EMPTY = {
  total: 0,
  byClient: {},
  bySubject: {},
  byAudience: {},
  byResource: {},
  droppedKeys: 0,
};

describe('counters and rules', () => {
  it('leave out a scripted 200 response', async () => {
    const { url, tokenUrl } = await startServer({
      rules: [
        {
          id: 'scripted',
          action: { type: 'response', status: 200, body: '{"access_token":"scripted"}' },
        },
      ],
    });

    const response = await postToken(tokenUrl, exchangeBody());

    expect(response.status).toBe(200);
    expect(await response.text()).toBe('{"access_token":"scripted"}');
    expect(await counters(url)).toEqual(EMPTY);
  });

  it('count a token changed by a modify rule', async () => {
    const { url, tokenUrl } = await startServer({
      rules: [{ id: 'no-expiry', action: { type: 'modify', expiresIn: 'omit' } }],
    });

    await expectTokenResponse(
      await postToken(tokenUrl, exchangeBody({ subject_token: UNSIGNED_USER_JWT })),
    );

    expect(await counters(url)).toEqual({
      total: 1,
      byClient: { 'litellm-client': 1 },
      bySubject: { 'user-123': 1 },
      byAudience: { 'api://my-mcp-server': 1 },
      byResource: {},
      droppedKeys: 0,
    });
  });
});
