import { describe, expect, it } from 'vitest';
import { exchangeBody, postToken, startServer } from './helpers.js';

describe('token endpoint', () => {
  it('exchanges the README curl request', async () => {
    const { tokenUrl } = await startServer();
    const response = await postToken(tokenUrl, exchangeBody());
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      access_token: 'exchanged-53a23a852c28f3be-for-api://my-mcp-server',
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      token_type: 'Bearer',
      expires_in: 3600,
      scope: 'mcp.tools.read mcp.tools.execute',
    });
  });
});
