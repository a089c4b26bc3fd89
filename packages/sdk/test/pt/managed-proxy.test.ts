import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, expect, afterAll } from 'vitest';
import { createLogger } from '../../src/log.ts';
import {
  resolveExecutable,
  startManagedProxy,
  type ManagedProxyOptions,
} from '../../src/pt/index.ts';
import { isRunning } from '../../src/testing/index.ts';
import { logCollector } from '../helpers.ts';

const fakePt = resolve(fileURLToPath(new URL('.', import.meta.url)), 'fixtures/fake-pt.mjs');
const dir = mkdtempSync(join(tmpdir(), 'sip003-pt-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Starts the fake PT with `lines` on stdout; the log goes to `lines` of the returned collector. */
function start(
  lines: readonly string[],
  overrides: Partial<ManagedProxyOptions> = {},
  then = 'stdin',
) {
  const log = logCollector();
  const envFile = join(dir, `env-${Math.random().toString(36).slice(2)}.json`);
  const proxy = startManagedProxy({
    exec: fakePt,
    mode: 'client',
    transport: 'obfs4',
    stateDir: join(dir, 'state'),
    log: createLogger({ name: 'pt-test', level: 'debug', sink: log.sink }),
    env: {
      ...process.env,
      FAKE_PT_LINES: lines.join('\n'),
      FAKE_PT_THEN: then,
      FAKE_PT_ENV_FILE: envFile,
    },
    startupTimeoutMs: 5000,
    ...overrides,
  });
  return {
    proxy,
    log: log.lines,
    env: () => JSON.parse(readFileSync(envFile, 'utf8')) as Record<string, string>,
  };
}

describe('startManagedProxy (PT 1.0 managed proxy)', () => {
  it('client: sets the PT 1.0 environment, reads CMETHOD, forwards LOG, stops through stdin', async () => {
    const { proxy, log, env } = start([
      'VERSION 1',
      'LOG SEVERITY=warning MESSAGE="careful \\"now\\""',
      'CMETHOD obfs3 socks5 127.0.0.1:1111',
      'CMETHOD obfs4 socks5 127.0.0.1:2222',
      'STATUS TRANSPORT=obfs4 CONNECT=Success',
      'CMETHODS DONE',
    ]);
    const running = await proxy;
    expect(running.address).toEqual({ host: '127.0.0.1', port: 2222 });
    expect(env()).toMatchObject({
      TOR_PT_MANAGED_TRANSPORT_VER: '1',
      TOR_PT_STATE_LOCATION: join(dir, 'state'),
      TOR_PT_EXIT_ON_STDIN_CLOSE: '1',
      TOR_PT_CLIENT_TRANSPORTS: 'obfs4',
    });
    expect(env()['TOR_PT_SERVER_TRANSPORTS']).toBeUndefined();
    expect(log).toContain('pt-test warn obfs4: careful "now"');
    expect(
      log.some((l) => l.startsWith('pt-test debug obfs4 status TRANSPORT=obfs4 CONNECT=Success')),
    ).toBe(true);
    const exit = await running.stop();
    expect(exit).toMatchObject({ code: 0, signal: null, expected: true });
    expect(isRunning(running.pid)).toBe(false);
  });

  it('server: sets BINDADDR, ORPORT, an empty EXTENDED_SERVER_PORT and the transport options; reads ARGS', async () => {
    const { proxy, env } = start(
      ['VERSION 1', 'SMETHOD obfs4 [::1]:3333 ARGS:cert=abc\\=\\,,iat-mode=1', 'SMETHODS DONE'],
      {
        mode: 'server',
        bindAddress: { host: '::1', port: 3333 },
        orPort: { host: '127.0.0.1', port: 4444 },
        serverOptions: { 'iat-mode': '1' },
      },
    );
    const running = await proxy;
    expect(running.args).toEqual({ cert: 'abc=,', 'iat-mode': '1' });
    expect(running.address).toEqual({ host: '::1', port: 3333 });
    expect(env()).toMatchObject({
      TOR_PT_SERVER_TRANSPORTS: 'obfs4',
      TOR_PT_SERVER_BINDADDR: 'obfs4-[::1]:3333',
      TOR_PT_ORPORT: '127.0.0.1:4444',
      TOR_PT_EXTENDED_SERVER_PORT: '',
      TOR_PT_SERVER_TRANSPORT_OPTIONS: 'obfs4:iat-mode=1',
    });
    await running.stop();
  });

  const failures: [string, readonly string[], string, RegExp][] = [
    [
      'VERSION-ERROR',
      ['VERSION-ERROR no-version'],
      'exit:1',
      /^exec: .* does not speak PT version 1 \(VERSION-ERROR no-version\)$/,
    ],
    [
      'ENV-ERROR',
      ['VERSION 1', 'ENV-ERROR no state location'],
      'exit:1',
      /^exec: .* refused its configuration \(ENV-ERROR no state location\)$/,
    ],
    [
      'CMETHOD-ERROR',
      ['VERSION 1', 'CMETHOD-ERROR obfs4 no rocks available', 'CMETHODS DONE'],
      'stdin',
      /^transport: .* could not start obfs4: no rocks available$/,
    ],
    [
      'a missing CMETHOD',
      ['VERSION 1', 'CMETHOD obfs3 socks5 127.0.0.1:1', 'CMETHODS DONE'],
      'stdin',
      /^transport: .* does not offer "obfs4" as a client \(no CMETHOD line for it\)$/,
    ],
    [
      'a socks4 CMETHOD',
      ['VERSION 1', 'CMETHOD obfs4 socks4 127.0.0.1:1', 'CMETHODS DONE'],
      'stdin',
      /offers obfs4 over socks4; only socks5 is supported$/,
    ],
    [
      'a malformed line',
      ['VERSION 1', 'CMETHOD obfs4 socks5 nowhere'],
      'stdin',
      /wrote a malformed line/,
    ],
    [
      'an exit during startup',
      ['VERSION 1', 'something odd'],
      'exit:4',
      /exited \(exit code 4\); last output: "VERSION 1" \| "something odd", before reporting obfs4 ready$/,
    ],
  ];
  for (const [what, lines, then, message] of failures) {
    it(`rejects on ${what} with one line, and leaves no child`, async () => {
      const { proxy } = start(lines, {}, then);
      const error = (await proxy.catch((e: unknown) => e)) as Error & { code: string };
      expect(error.message).toMatch(message);
      expect(error.code).toMatch(/^SIP003_(OPTION_INVALID|PT_FAILED)$/);
      const pid = Number(/pid (\d+)/.exec(error.message)?.[1] ?? 0);
      if (pid > 0) expect(isRunning(pid)).toBe(false);
    });
  }

  it('enforces the startup deadline and kills a PT that never finishes', async () => {
    const { proxy } = start(['VERSION 1'], { startupTimeoutMs: 1500 }, 'stubborn');
    const t0 = performance.now();
    await expect(proxy).rejects.toMatchObject({
      code: 'SIP003_TIMEOUT',
      message: expect.stringMatching(
        /did not report obfs4 ready \(CMETHODS DONE\) within 1\.5 s; last output: "VERSION 1"/,
      ),
    });
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('names exec when it cannot be run', async () => {
    const { proxy } = start([], { exec: join(dir, 'missing-pt') });
    await expect(proxy).rejects.toThrow(/^exec: cannot run ".*missing-pt": no such file$/);
  });

  it('reports a PT that exits after startup through `exited`, quoting its last lines', async () => {
    const { proxy } = start(['VERSION 1', 'CMETHOD obfs4 socks5 127.0.0.1:2222', 'CMETHODS DONE']);
    const running = await proxy;
    process.kill(running.pid, 'SIGKILL');
    const exit = await running.exited;
    expect(exit).toMatchObject({ expected: false, signal: 'SIGKILL' });
    expect(exit.message).toMatch(
      /exited \(signal SIGKILL\); last output: "VERSION 1" \| "CMETHOD obfs4 socks5 127\.0\.0\.1:2222" \| "CMETHODS DONE"$/,
    );
  });

  it('holds at most 4096 characters of a line: a huge one is cut and startup goes on', async () => {
    const { proxy } = start([
      'x'.repeat(100_000),
      'VERSION 1',
      'CMETHOD obfs4 socks5 127.0.0.1:2222',
      'CMETHODS DONE',
    ]);
    const running = await proxy;
    process.kill(running.pid, 'SIGKILL');
    const { message } = await running.exited;
    expect(message).toContain(`"${'x'.repeat(4096)}" | "VERSION 1"`);
    expect(message.length).toBeLessThan(4096 + 500);
  });

  it('stop() escalates to SIGTERM, then SIGKILL, for a PT that ignores stdin', async () => {
    const { proxy } = start(
      ['VERSION 1', 'CMETHOD obfs4 socks5 127.0.0.1:2222', 'CMETHODS DONE'],
      {},
      'stubborn',
    );
    const running = await proxy;
    const t0 = performance.now();
    const exit = await running.stop(100);
    expect(exit.signal).toBe('SIGKILL');
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(isRunning(running.pid)).toBe(false);
  });
});

describe('resolveExecutable', () => {
  it('finds a name on PATH, and names the option when there is nothing to run', () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'my-pt'), '#!/bin/sh\n', { mode: 0o755 });
    writeFileSync(join(bin, 'not-exec'), '#!/bin/sh\n', { mode: 0o644 });
    expect(resolveExecutable('my-pt', 'exec', bin)).toBe(join(bin, 'my-pt'));
    expect(() => resolveExecutable('nope-pt', 'exec', bin)).toThrow(
      /^exec: "nope-pt" is not on PATH/,
    );
    expect(() => resolveExecutable(join(bin, 'not-exec'))).toThrow(
      /^exec: ".*not-exec" is not executable/,
    );
    expect(() => resolveExecutable(bin)).toThrow(/is not a file/);
    expect(() => resolveExecutable('/no/such/pt')).toThrow(
      /^exec: "\/no\/such\/pt" does not exist$/,
    );
  });
});
