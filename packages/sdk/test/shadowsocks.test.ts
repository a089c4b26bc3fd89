import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { describe, it, expect, afterEach } from 'vitest';
import {
  findBinary,
  missingBinaries,
  readAtLeast,
  socks5Connect,
  startEchoServer,
  startShadowsocks,
  type TestServer,
} from '../src/testing/index.ts';
import { repoRoot } from './helpers.ts';

const plugin = resolve(repoRoot, 'packages/noop-plugin/dist/noop-plugin');
const missing = missingBinaries(['ss-local', 'ss-server']);

/**
 * A folder with an `ss-local` that fails its first `failures` starts the way ss-local does when its
 * plugin cannot listen (the plugin's line, then exit 255), printing `line`, and runs the real
 * ss-local after that. Returns the folder and a reader of how many starts there were.
 */
async function flakyLocal(
  failures: number,
  line: string,
): Promise<{ dir: string; starts: () => Promise<number> }> {
  const dir = await mkdtemp(join(tmpdir(), 'sip003-flaky-'));
  const real = findBinary('ss-local')!;
  const script = `#!/bin/sh
n=$(cat "${dir}/starts" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "${dir}/starts"
if [ "$n" -le ${failures} ]; then
  echo ${JSON.stringify(line)} >&2
  echo " ERROR: plugin service exit unexpectedly" >&2
  exit 255
fi
exec ${JSON.stringify(real)} "$@"
`;
  await writeFile(join(dir, 'ss-local'), script);
  await chmod(join(dir, 'ss-local'), 0o755);
  return {
    dir,
    starts: async () => Number((await readFile(join(dir, 'starts'), 'utf8')).trim()),
  };
}

describe.skipIf(missing.length > 0)(
  `startShadowsocks (test kit)${missing.length > 0 ? ` (skipped: ${missing.join(', ')} not installed)` : ''}`,
  () => {
    const dirs: string[] = [];
    const servers: TestServer[] = [];
    afterEach(async () => {
      for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
      for (const s of servers.splice(0)) await s.close();
    });
    const taken =
      'noop-plugin: cannot listen on 127.0.0.1:40001: address already in use (EADDRINUSE)';
    const options = (dir: string) => ({
      clientPlugin: plugin,
      serverPlugin: plugin,
      serverPluginOptions: 'server',
      env: { ...process.env, PATH: `${dir}${delimiter}${process.env['PATH'] ?? ''}` },
      readyTimeoutMs: 5000,
    });

    it('starts again when the port ss-libev picked for a plugin was taken (EADDRINUSE)', async () => {
      const flaky = await flakyLocal(2, taken);
      dirs.push(flaky.dir);
      const echo = await startEchoServer();
      servers.push(echo);
      const ss = await startShadowsocks(options(flaky.dir));
      try {
        expect(await flaky.starts()).toBe(3);
        const tunnel = await socks5Connect(ss.socksPort, '127.0.0.1', echo.port, 5000);
        tunnel.write('through the third start');
        expect((await readAtLeast(tunnel, 23, 5000)).toString()).toBe('through the third start');
        tunnel.destroy();
      } finally {
        await ss.close();
      }
    }, 30_000);

    it('gives up after 3 starts that all hit EADDRINUSE, with the last output', async () => {
      const flaky = await flakyLocal(99, taken);
      dirs.push(flaky.dir);
      await expect(startShadowsocks(options(flaky.dir))).rejects.toThrow(
        /did not start in 3 attempts, each time a plugin port was taken: ss-local did not start: .*EADDRINUSE/s,
      );
      expect(await flaky.starts()).toBe(3);
    }, 30_000);

    it('carries a tunnel to an IPv6 target (socks5Connect to ::1)', async () => {
      const v6 = createServer((s) => {
        s.on('error', () => undefined);
        s.pipe(s);
      });
      v6.listen(0, '::1');
      await once(v6, 'listening');
      const ss = await startShadowsocks({
        clientPlugin: plugin,
        serverPlugin: plugin,
        serverPluginOptions: 'server',
      });
      try {
        const { port } = v6.address() as AddressInfo;
        const tunnel = await socks5Connect(ss.socksPort, '::1', port, 5000);
        tunnel.write('over IPv6');
        expect((await readAtLeast(tunnel, 9, 5000)).toString()).toBe('over IPv6');
        tunnel.destroy();
      } finally {
        await ss.close();
        await new Promise<void>((r) => v6.close(() => r()));
      }
    }, 30_000);

    it('does not retry any other failure', async () => {
      const flaky = await flakyLocal(99, 'noop-plugin: SS_REMOTE_PORT must be an integer');
      dirs.push(flaky.dir);
      await expect(startShadowsocks(options(flaky.dir))).rejects.toThrow(
        /ss-local did not start: .*SS_REMOTE_PORT must be an integer/s,
      );
      expect(await flaky.starts()).toBe(1);
    }, 30_000);
  },
);
