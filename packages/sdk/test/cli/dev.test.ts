import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { collect, isRunning, openConnection } from '../../src/testing/index.ts';
import { repoRoot } from '../helpers.ts';
import { linkWorkspaceModules } from '../plugin-project.ts';

const sip003 = resolve(repoRoot, 'packages/sdk/bin/sip003.js');

/** The plugin of the project: an identity codec, and a line on stderr saying which version runs. */
const indexTs = (generation: number): string => `import { definePlugin } from '@sip003/sdk';
console.error('generation ${generation}');
export default definePlugin({
  name: 'dev-plugin',
  session: () => ({ encode: { transform: (c, push) => push(c) }, decode: { transform: (c, push) => push(c) } }),
});
`;
const MAIN_TS = `import { runMain } from '@sip003/sdk';
import plugin from './index.ts';
void runMain(plugin);
`;

/** `sip003 dev` as a process: its output so far, and a wait for a line matching a pattern. */
function startDev(args: string[], cwd: string) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [sip003, 'dev', ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: '1' },
  });
  let output = '';
  let wake: (() => void) | undefined;
  const append = (text: string): void => {
    output += text;
    wake?.();
  };
  child.stdout.setEncoding('utf8').on('data', append);
  child.stderr.setEncoding('utf8').on('data', append);
  child.on('exit', () => wake?.());
  /** The first match of `pattern` in the output after `from`, within 30 s. */
  const waitFor = async (
    pattern: RegExp,
    from = 0,
  ): Promise<{ match: RegExpExecArray; end: number }> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const match = pattern.exec(output.slice(from));
      if (match !== null) return { match, end: from + match.index + match[0].length };
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`no ${String(pattern)} in sip003 dev's output:\n${output}`);
      // Until more output, the exit, or a second to look at the deadline again.
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 1000).unref();
      });
    }
  };
  return { child, waitFor, output: () => output };
}

const PAIR_LINE =
  /client plugin \(pid (\d+)\) listens on 127\.0\.0\.1:(\d+) -> server plugin \(pid (\d+)\)/;

async function echoes(port: number): Promise<string> {
  const socket = await openConnection(port);
  const reply = collect(socket, 20_000);
  socket.end('ping');
  return (await reply).toString();
}

describe('sip003 dev', () => {
  let dir: string;

  it('prints its help with exit 0, and refuses a missing entry with one line and exit 64', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (l: string) => out.push(l), stderr: (l: string) => err.push(l) };
    expect(await main(['dev', '--help'], io)).toBe(0);
    expect(out[0]).toContain('Usage: sip003 dev <entry> [options]');
    expect(await main(['dev', 'src/nothing.ts'], io)).toBe(64);
    expect(err).toEqual([`sip003 dev: client plugin: no such file "${resolve('src/nothing.ts')}"`]);
  });

  beforeAll(async () => {
    if (!existsSync(resolve(repoRoot, 'packages/sdk/dist/cli/main.js')))
      throw new Error('packages/sdk/dist is missing: run pnpm build first (pnpm test does)');
    dir = await mkdtemp(join(tmpdir(), 'sip003-dev-'));
    await mkdir(join(dir, 'src'));
    await writeFile(join(dir, 'package.json'), '{ "name": "dev-plugin", "type": "module" }\n');
    await writeFile(join(dir, 'src/index.ts'), indexTs(1));
    await writeFile(join(dir, 'src/main.ts'), MAIN_TS);
    await linkWorkspaceModules(dir);
  });
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('restarts the pair when a source file changes, waits out a broken one, stops by PID', async () => {
    const dev = startDev(['src/main.ts'], dir);
    const pids: number[] = [];
    try {
      const first = await dev.waitFor(PAIR_LINE);
      pids.push(Number(first.match[1]), Number(first.match[3]));
      const port = Number(first.match[2]);
      expect(await echoes(port)).toBe('ping');

      await writeFile(join(dir, 'src/index.ts'), indexTs(2));
      const restart = await dev.waitFor(/restarting: src\/index\.ts changed\n/, first.end);
      const second = await dev.waitFor(PAIR_LINE, restart.end);
      pids.push(Number(second.match[1]), Number(second.match[3]));
      expect(Number(second.match[2])).toBe(port);
      expect(dev.output().slice(restart.end)).toContain('[server] generation 2');
      expect(await echoes(port)).toBe('ping');

      // A file that does not compile: the failure is shown and dev waits for the next change.
      await writeFile(join(dir, 'src/index.ts'), `${indexTs(3)}\nthis is not TypeScript(\n`);
      await dev.waitFor(/plugin ended \(exit 1\) before it listened/, second.end);
      // Searched from the same place: stderr and stdout lines may arrive in either order.
      const waiting = await dev.waitFor(/waiting for a change to restart\n/, second.end);
      await writeFile(join(dir, 'src/index.ts'), indexTs(4));
      const third = await dev.waitFor(PAIR_LINE, waiting.end);
      pids.push(Number(third.match[1]), Number(third.match[3]));
      expect(await echoes(port)).toBe('ping');

      // A plugin that dies is shown, the other side stopped, and the next change starts both.
      process.kill(Number(third.match[1]), 'SIGKILL');
      await dev.waitFor(
        /client plugin ended \(signal SIGKILL\); waiting for a change to restart\n/,
        third.end,
      );
      const died = await dev.waitFor(
        /stopped plugins: server exit 0, client signal SIGKILL\n/,
        third.end,
      );
      await writeFile(join(dir, 'src/main.ts'), `${MAIN_TS}// touched\n`);
      const fourth = await dev.waitFor(PAIR_LINE, died.end);
      expect(dev.output().slice(died.end)).toContain('restarting: src/main.ts changed');
      pids.push(Number(fourth.match[1]), Number(fourth.match[3]));
      expect(await echoes(port)).toBe('ping');

      dev.child.kill('SIGTERM');
      const [code] = (await once(dev.child, 'exit')) as [number | null];
      expect(code).toBe(0);
      // stdout and stderr are two pipes: their lines may interleave in any order here.
      const lines = dev.output().split('\n');
      expect(lines).toContain('stopping (SIGTERM)');
      expect(lines.filter((l) => l.startsWith('stopped plugins:')).at(-1)).toBe(
        'stopped plugins: server exit 0, client exit 0',
      );
      expect(pids.filter(isRunning)).toEqual([]);
    } finally {
      if (dev.child.exitCode === null) dev.child.kill('SIGKILL');
      for (const pid of pids) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
    }
  }, 120_000);
});
