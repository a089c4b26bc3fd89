import type { Socket } from 'node:net';
import { once } from 'node:events';
import { describe, it, expect, afterEach } from 'vitest';
import { startEchoServer, openConnection, collect, isRunning } from '../src/testing/index.ts';
import {
  cleanup,
  pids,
  servers,
  sigtermAtFirstAccept,
  startHost,
  startWorkers,
  timeToExit,
  untilOutput,
  workersEnv,
  workersOn,
} from './plugin-process.ts';
import { echoedOrReset } from './helpers.ts';

afterEach(cleanup);

describe('workers=N (noop-plugin from source)', () => {
  it('workers=N: stops cleanly (exit 0) on a SIGTERM while the workers are still starting', async () => {
    const echo = await startEchoServer();
    servers.push(echo);
    const codes: (number | string)[] = [];
    for (let round = 0; round < 4; round++) {
      const { env, port } = await workersEnv(echo.port, 2);
      codes.push(await sigtermAtFirstAccept(env, port));
      // No worker outlives its primary.
      for (let i = 0; i < 150 && workersOn(port).length > 0; i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(workersOn(port)).toEqual([]);
    }
    expect(codes).toEqual(Array.from({ length: 4 }, () => 0));
  }, 240_000);

  it('workers=N: gives up with exit 1 after too many worker restarts in a minute', async () => {
    const { child, stderr } = await startWorkers(2);
    const exited = once(child, 'exit') as Promise<[number | null]>;
    // Kill a live worker, one at a time, until the primary gives up (at most 8). Pids are read
    // from complete lines only, so a line still arriving cannot yield a cut-off pid.
    const killed: number[] = [];
    for (let i = 0; i < 8 && !stderr().includes('too many restarts'); i++) {
      const started = [
        ...[...stderr().matchAll(/pids=([0-9,]+)\n/g)].flatMap((m) => m[1]!.split(',').map(Number)),
        ...[...stderr().matchAll(/started worker (\d+) in its place/g)].map((m) => Number(m[1])),
      ];
      const replaced = [...stderr().matchAll(/worker (\d+) exited/g)].map((m) => Number(m[1]));
      const victim = started.find((pid) => !replaced.includes(pid) && !killed.includes(pid));
      if (victim === undefined) break;
      pids.push(victim);
      killed.push(victim);
      process.kill(victim, 'SIGKILL');
      await untilOutput(child, stderr, new RegExp(`worker ${victim} exited`));
    }
    const [code] = await exited;
    expect(code).toBe(1);
    expect(stderr()).toContain('too many restarts, giving up');
    // The log says why it stops: the workers failed, not the parent.
    expect(stderr()).toContain('noop-plugin info stopping (workers-failed)');
    expect(stderr()).not.toContain('parent-exited');
  });

  it('workers=N with stdin /dev/null: everything is gone within 1 s after the host is SIGKILLed, even while draining', async () => {
    const echo = await startEchoServer();
    servers.push(echo);
    // A long drain and an open connection: a host that is gone must not wait for either.
    const { env, port } = await workersEnv(echo.port, 2, 'drain-timeout=30');
    const { hostProc, pluginPid, stderr } = await startHost(env, 'null');
    await untilOutput(hostProc, stderr, /2 workers listening pids=[0-9,]+\n/);
    const workers = workersOn(port);
    expect(workers).toHaveLength(2);
    pids.push(...workers);
    const socket = await openConnection(port);
    socket.on('error', () => undefined);
    socket.write('held open');
    await once(socket, 'data');
    hostProc.kill('SIGKILL');
    const t0 = performance.now();
    for (const pid of [pluginPid, ...workers]) await timeToExit(pid, 5000);
    const ms = performance.now() - t0;
    console.info(`workers=2, stdin /dev/null: all gone ${ms.toFixed(0)} ms after host SIGKILL`);
    expect([pluginPid, ...workers].filter(isRunning)).toEqual([]);
    expect(ms).toBeLessThan(1000);
    socket.destroy();
  });

  it('workers=N: max-connections holds for the plugin as a whole, and no worker refuses while there is room', async () => {
    const { child, port } = await startWorkers(2, 'max-connections=4');
    pids.push(...workersOn(port));
    const attempt = (): Promise<Socket | undefined> => echoedOrReset(port);
    const burst = async (n: number): Promise<Socket[]> =>
      (await Promise.all(Array.from({ length: n }, attempt))).filter(
        (s): s is Socket => s !== undefined,
      );
    // Concurrent bursts spread over both workers: 4 get in, whichever worker accepts them.
    let kept = await burst(12);
    expect(kept).toHaveLength(4);
    for (let round = 0; round < 3; round++) {
      const closed = kept.map((s) => once(s, 'close'));
      for (const s of kept) s.end();
      await Promise.all(closed);
      // A slot comes back once the worker has seen its connection close: retry, bounded.
      kept = [];
      for (let i = 0; i < 100 && kept.length < 4; i++) {
        kept.push(...(await burst(4 - kept.length)));
        if (kept.length < 4) await new Promise((r) => setTimeout(r, 20));
      }
      expect(kept, `round ${round}: all 4 slots are usable again`).toHaveLength(4);
      expect(await burst(8), `round ${round}: no 5th connection`).toHaveLength(0);
    }
    for (const s of kept) s.destroy();
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    expect((await exited)[0]).toBe(0);
  });

  it('runs workers=N on the server side: shared socket, all serve, SIGTERM stops them all', async () => {
    const { child, stderr, port } = await startWorkers(2);
    const pidsText = /pids=([0-9,]+)/.exec(stderr())?.[1] ?? '';
    const workers = pidsText.split(',').map(Number);
    expect(workers).toHaveLength(2);
    pids.push(...workers);
    const replies = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const s = await openConnection(port);
        const got = collect(s);
        s.end(`conn ${i}`);
        return (await got).toString();
      }),
    );
    expect(replies).toEqual(Array.from({ length: 40 }, (_, i) => `conn ${i}`));
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number];
    expect(code).toBe(0);
    for (const pid of workers) expect(await timeToExit(pid, 3000)).toBeLessThan(3000);
  });
});
