import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/errors.js';
import { readConfigFile, resolveConfig } from '../src/config/load.js';
import { createServer, type ServerOptions } from '../src/server.js';

/** Calls `readConfigFile` and returns the error it rejects with, failing the test if it resolves. */
async function readError(path: string): Promise<Error> {
  try {
    await readConfigFile(path);
  } catch (error) {
    return error as Error;
  }
  throw new Error(`readConfigFile accepted ${path}`);
}

/** Calls `createServer` and returns the error it throws, failing the test if it returns. */
function creationError(options: unknown): Error {
  try {
    createServer(options as ServerOptions);
  } catch (error) {
    return error as Error;
  }
  throw new Error('createServer accepted invalid options');
}

describe('config validation', () => {
  it('unknown key names key', () => {
    const error = creationError({ prot: 1 });

    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe('invalid configuration:\nprot: unknown option');
  });

  it('nested unknown key names path', () => {
    const error = creationError({ requestLog: { size: 5 } });

    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe('invalid configuration:\nrequestLog.size: unknown option');
  });

  it('unknown client key names path', () => {
    const error = creationError({ clients: [{ clientId: 'a', secret: 'x' }] });

    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe('invalid configuration:\nclients[0].secret: unknown option');
  });

  it.each([
    [{ port: -1 }, 'port: Too small: expected number to be >=0 (received -1)'],
    [{ port: 65536 }, 'port: Too big: expected number to be <=65535 (received 65536)'],
    [{ port: 'abc' }, 'port: Invalid input: expected number, received string (received "abc")'],
    [{ port: 1.5 }, 'port: Invalid input: expected int, received number (received 1.5)'],
    [{ tokenTtl: 0 }, 'tokenTtl: Too small: expected number to be >=1 (received 0)'],
    [
      { clients: [{ clientId: '' }] },
      'clients[0].clientId: Too small: expected string to have >=1 characters (received "")',
    ],
    [
      { clients: [{ clientId: 'a' }, { clientId: 'b' }, { clientId: 'a' }] },
      'clients[2].clientId: duplicate client id (received "a")',
    ],
    [
      { logLevel: 'loud' },
      'logLevel: Invalid option: expected one of "fatal"|"error"|"warn"|"info"|"debug"|"trace"|"silent" (received "loud")',
    ],
    [
      { requestLog: { maxEntries: 0 } },
      'requestLog.maxEntries: Too small: expected number to be >=1 (received 0)',
    ],
    [
      { requestLog: 'big' },
      'requestLog: Invalid input: expected object, received string (received "big")',
    ],
    [{ bodyLimit: 100 }, 'bodyLimit: Too small: expected number to be >=1024 (received 100)'],
  ])('rejects %j', (options, expected) => {
    const error = creationError(options);

    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe(`invalid configuration:\n${expected}`);
  });

  it('lists every problem', () => {
    const error = creationError({ prot: 1, port: 'x', tokenTtl: -5 });

    expect(error.message.split('\n')).toEqual([
      'invalid configuration:',
      'port: Invalid input: expected number, received string (received "x")',
      'tokenTtl: Too small: expected number to be >=1 (received -5)',
      'prot: unknown option',
    ]);
  });
});

describe('config secret hiding', () => {
  it.each([
    [
      { clients: [{ clientId: 'a', clientSecret: '' }] },
      'clients[0].clientSecret: Too small: expected string to have >=1 characters (received a string, value hidden)',
    ],
    [
      { clients: [{ clientId: 'a', clientSecret: 735_911 }] },
      'clients[0].clientSecret: Invalid input: expected string, received number (received a number, value hidden)',
    ],
    [
      { clients: [{ clientId: 'a', clientSecret: ['s3cr3t-VALUE-123'] }] },
      'clients[0].clientSecret: Invalid input: expected string, received array (received an array, value hidden)',
    ],
    [
      { adminToken: '' },
      'adminToken: must use only the characters A-Z a-z 0-9 - . _ ~ + / = (received a string, value hidden)',
    ],
    [
      { adminToken: 'has space' },
      'adminToken: must use only the characters A-Z a-z 0-9 - . _ ~ + / = (received a string, value hidden)',
    ],
    [
      { adminToken: 424_242 },
      'adminToken: Invalid input: expected string, received number (received a number, value hidden)',
    ],
    [
      { adminToken: { value: 'adm-secret' } },
      'adminToken: Invalid input: expected string, received object (received an object, value hidden)',
    ],
  ])('hides value in %j', (options, expected) => {
    const error = creationError(options);

    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe(`invalid configuration:\n${expected}`);
  });

  // A YAML mapping where a list of clients belongs is an easy mistake to make.
  it('hides secret nested in clients', () => {
    const error = creationError({ clients: { clientId: 'a', clientSecret: 's3cr3t-VALUE-123' } });

    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).not.toContain('s3cr3t-VALUE-123');
    expect(error.message).toBe(
      'invalid configuration:\nclients: Invalid input: expected array, received object (received an object, value hidden)',
    );
  });

  it('hides a client written as a list', () => {
    const error = creationError({ clients: [['a', 's3cr3t-VALUE-123']] });

    expect(error.message).toBe(
      'invalid configuration:\nclients[0]: Invalid input: expected object, received array (received an array, value hidden)',
    );
  });

  it('keeps token lifetime visible', () => {
    const error = creationError({ tokenTtl: 'forever' });

    expect(error.message).toBe(
      'invalid configuration:\ntokenTtl: Invalid input: expected number, received string (received "forever")',
    );
  });
});

describe('config defaults', () => {
  it('applies documented defaults', () => {
    const config = resolveConfig({});

    expect(config.port).toBe(9999);
    expect(config.host).toBe('127.0.0.1');
    expect(config.tokenTtl).toBe(3600);
    expect(config.requestLog.maxEntries).toBe(1000);
    expect(config.requestLog.unsafeIncludeTokens).toBe(false);
    expect(config.bodyLimit).toBe(65_536);
    expect(config.logLevel).toBe('info');
    expect(config.clients).toBeUndefined();
    expect(config.adminToken).toBeUndefined();
  });

  it('createServer applies defaults', () => {
    const server = createServer();

    expect(server.config.port).toBe(9999);
    expect(server.config.host).toBe('127.0.0.1');
    expect(server.config.tokenTtl).toBe(3600);
    expect(server.config.requestLog.maxEntries).toBe(1000);
    expect(server.config.bodyLimit).toBe(65_536);
    expect(server.requestLog.capacity).toBe(1000);
  });

  it('partial requestLog keeps defaults', () => {
    const config = resolveConfig({ requestLog: { unsafeIncludeTokens: true } });

    expect(config.requestLog).toEqual({ maxEntries: 1000, unsafeIncludeTokens: true });
  });

  it('config is frozen', () => {
    const config = resolveConfig({ tokenTtl: 60 });

    expect(Object.isFrozen(config)).toBe(true);
  });
});

describe('readConfigFile', () => {
  let directory: string;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'mtes-config-'));
  });

  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  async function writeConfig(name: string, text: string): Promise<string> {
    const path = join(directory, name);
    await writeFile(path, text, 'utf8');
    return path;
  }

  it('reads YAML file', async () => {
    const path = await writeConfig(
      'server.yaml',
      [
        'port: 0',
        'tokenTtl: 120',
        'clients:',
        '  - clientId: gateway',
        '    clientSecret: gateway-secret',
        'requestLog:',
        '  maxEntries: 50',
        '',
      ].join('\n'),
    );

    expect(await readConfigFile(path)).toEqual({
      port: 0,
      tokenTtl: 120,
      clients: [{ clientId: 'gateway', clientSecret: 'gateway-secret' }],
      requestLog: { maxEntries: 50 },
    });
  });

  it('reads JSON file', async () => {
    const path = await writeConfig(
      'server.json',
      JSON.stringify({ host: '127.0.0.2', adminToken: 'adm-secret' }),
    );

    expect(await readConfigFile(path)).toEqual({ host: '127.0.0.2', adminToken: 'adm-secret' });
  });

  it('reads JSON under other extension', async () => {
    const path = await writeConfig('server.conf', '{"tokenTtl": 30}');

    expect(await readConfigFile(path)).toEqual({ tokenTtl: 30 });
  });

  it('empty file means no options', async () => {
    const path = await writeConfig('empty.yaml', '# nothing set yet\n');

    expect(await readConfigFile(path)).toEqual({});
  });

  it('file values still validated', async () => {
    const path = await writeConfig('typo.yaml', 'prot: 1\n');
    const options = await readConfigFile(path);

    const error = creationError(options);

    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe('invalid configuration:\nprot: unknown option');
  });

  it('missing file is ConfigError', async () => {
    const path = join(directory, 'absent.yaml');

    const error = await readError(path);

    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/^cannot read config file .*absent\.yaml: ENOENT/);
  });

  it('YAML syntax error is ConfigError', async () => {
    const path = await writeConfig('broken.yaml', 'port: [1, 2\ntokenTtl: 5\n');

    const error = await readError(path);

    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message.startsWith(`cannot parse config file ${path}: `)).toBe(true);
  });

  it('JSON syntax error is ConfigError', async () => {
    const path = await writeConfig('broken.json', '{"port": 1,}');

    const error = await readError(path);

    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message.startsWith(`cannot parse config file ${path}: `)).toBe(true);
  });

  it('top-level YAML list rejected', async () => {
    const path = await writeConfig('list.yaml', '- port: 1\n- port: 2\n');

    const error = await readError(path);

    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe(`config file ${path} must contain a mapping of options`);
  });

  it('top-level scalar rejected', async () => {
    const path = await writeConfig('scalar.yaml', 'just a string\n');

    const error = await readError(path);

    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe(`config file ${path} must contain a mapping of options`);
  });
});
