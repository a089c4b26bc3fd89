import { describe, it, expect } from 'vitest';
import { readEnv } from '../src/env.ts';

const base = {
  SS_REMOTE_HOST: '127.0.0.1',
  SS_REMOTE_PORT: '8388',
  SS_LOCAL_HOST: '127.0.0.1',
  SS_LOCAL_PORT: '1080',
};

describe('readEnv', () => {
  it('reads the four variables and the options', () => {
    expect(readEnv({ ...base, SS_PLUGIN_OPTIONS: 'obfs=http' })).toEqual({
      remoteHosts: ['127.0.0.1'],
      remotePort: 8388,
      localHosts: ['127.0.0.1'],
      localPort: 1080,
      pluginOptions: 'obfs=http',
    });
  });
  it('keeps SS_PLUGIN_OPTIONS absent apart from empty (ss-libev sets it only with --plugin-opts)', () => {
    expect(readEnv(base).pluginOptions).toBeUndefined();
    expect(readEnv({ ...base, SS_PLUGIN_OPTIONS: '' }).pluginOptions).toBe('');
  });
  it.each([
    ['::1', ['::1']],
    ['[::1]', ['::1']],
    ['::', ['::']],
    ['0.0.0.0', ['0.0.0.0']],
    ['127.0.0.1|::1', ['127.0.0.1', '::1']],
    ['[::1]|127.0.0.1', ['::1', '127.0.0.1']],
    ['localhost', ['localhost']],
    ['example.com', ['example.com']],
    ['fe80::1%eth0', ['fe80::1%eth0']],
    ['xn--bcher-kva.example', ['xn--bcher-kva.example']],
  ])('host %j', (host, hosts) => {
    expect(readEnv({ ...base, SS_REMOTE_HOST: host }).remoteHosts).toEqual(hosts);
  });
  it('returns a frozen object', () => {
    const env = readEnv(base);
    expect(Object.isFrozen(env)).toBe(true);
    expect(Object.isFrozen(env.remoteHosts)).toBe(true);
  });
  it.each([
    [
      { SS_REMOTE_HOST: undefined },
      'SIP003_ENV_MISSING',
      'SS_REMOTE_HOST must be a host name or IP address (several joined with "|"), it is not set',
    ],
    [
      { SS_REMOTE_HOST: '' },
      'SIP003_ENV_MISSING',
      'SS_REMOTE_HOST must be a host name or IP address (several joined with "|"), got ""',
    ],
    [
      { SS_LOCAL_HOST: 'bad host' },
      'SIP003_ENV_INVALID',
      'SS_LOCAL_HOST must be a host name or IP address (several joined with "|"), got "bad host"',
    ],
    [
      { SS_LOCAL_HOST: '[127.0.0.1]' },
      'SIP003_ENV_INVALID',
      'SS_LOCAL_HOST must be a host name or IP address (several joined with "|"), got "[127.0.0.1]"',
    ],
    [
      { SS_REMOTE_HOST: 'a|' },
      'SIP003_ENV_INVALID',
      'SS_REMOTE_HOST must be a host name or IP address (several joined with "|"), got "a|"',
    ],
    [
      { SS_REMOTE_HOST: '127.0.0.1:8388' },
      'SIP003_ENV_INVALID',
      'SS_REMOTE_HOST must be a host name or IP address (several joined with "|"), got "127.0.0.1:8388"',
    ],
    [
      { SS_REMOTE_PORT: undefined },
      'SIP003_ENV_MISSING',
      'SS_REMOTE_PORT must be an integer from 1 to 65535, it is not set',
    ],
    [
      { SS_REMOTE_PORT: '80a' },
      'SIP003_ENV_INVALID',
      'SS_REMOTE_PORT must be an integer from 1 to 65535, got "80a"',
    ],
    [
      { SS_REMOTE_PORT: '0' },
      'SIP003_ENV_INVALID',
      'SS_REMOTE_PORT must be an integer from 1 to 65535, got "0"',
    ],
    [
      { SS_LOCAL_PORT: '65536' },
      'SIP003_ENV_INVALID',
      'SS_LOCAL_PORT must be an integer from 1 to 65535, got "65536"',
    ],
    [
      { SS_LOCAL_PORT: '-1' },
      'SIP003_ENV_INVALID',
      'SS_LOCAL_PORT must be an integer from 1 to 65535, got "-1"',
    ],
    [
      { SS_LOCAL_PORT: '1e3' },
      'SIP003_ENV_INVALID',
      'SS_LOCAL_PORT must be an integer from 1 to 65535, got "1e3"',
    ],
    [
      { SS_LOCAL_PORT: '' },
      'SIP003_ENV_MISSING',
      'SS_LOCAL_PORT must be an integer from 1 to 65535, got ""',
    ],
  ])('%j → %s', (patch, code, message) => {
    const env: NodeJS.ProcessEnv = { ...base, ...patch };
    for (const [k, v] of Object.entries(patch)) if (v === undefined) delete env[k];
    expect(() => readEnv(env)).toThrow(expect.objectContaining({ code, message }));
  });
  it('accepts surrounding blanks in ports (some GUIs pad them)', () => {
    expect(readEnv({ ...base, SS_LOCAL_PORT: ' 1080 ' }).localPort).toBe(1080);
  });
});
