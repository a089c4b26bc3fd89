/**
 * `sip003 dev <entry>`: a plugin pair as `sip003 run --serve` starts it, restarted when a source
 * file of the entry's project changes. A pair that fails to start, or a plugin that ends, is shown
 * and dev waits for the next change; Ctrl-C or SIGTERM stops the plugins by PID and ends dev.
 */
import { sep } from 'node:path';
import { formatEndpoint } from '../address.ts';
import { freePort } from '../testing/processes.ts';
import { startEchoServer, type TestServer } from '../testing/servers.ts';
import { parseCommandLine } from './args.ts';
import { reason } from './failures.ts';
import {
  describePair,
  PAIR_ARGS,
  PAIR_USAGE,
  readPairSpec,
  startPair,
  type RunningPair,
} from './pair.ts';
import { projectDir, watchSources } from './source-watch.ts';

export const DEV_USAGE = `Usage: sip003 dev <entry> [options]

Runs a plugin pair like "sip003 run --serve" (client and server side on fixed loopback ports, in
front of an echo server or --target) and restarts both sides when a source file of the entry's
project (the folder of its package.json) changes. A plugin that fails to start or ends is shown,
and dev waits for the next change. Ctrl-C stops it.

${PAIR_USAGE}
`;

/** What the dev loop waits for. */
type DevEvent =
  | { kind: 'change'; path: string }
  | { kind: 'ended'; generation: number; role: string; outcome: string }
  | { kind: 'stop'; signal: string };

/** A queue of events the loop takes one at a time. */
function eventQueue(): {
  push(event: DevEvent): void;
  next(): Promise<DevEvent>;
  dropChanges(): void;
} {
  const pending: DevEvent[] = [];
  let wake: (() => void) | undefined;
  return {
    push(event) {
      pending.push(event);
      wake?.();
    },
    async next() {
      while (pending.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      // Ctrl-C reaches the plugins too (one process group): their exits must not be reported
      // as crashes before the stop that caused them.
      const stop = pending.findIndex((event) => event.kind === 'stop');
      return pending.splice(stop === -1 ? 0 : stop, 1)[0]!;
    },
    /** Changes queued during a restart are covered by it: one restart per burst, not one each. */
    dropChanges() {
      for (let i = pending.length - 1; i >= 0; i--)
        if (pending[i]!.kind === 'change') pending.splice(i, 1);
    },
  };
}

/** `sip003 dev`: runs until SIGINT or SIGTERM, then returns 0. */
export async function devCommand(
  argv: readonly string[],
  io: { stdout(line: string): void; stderr(line: string): void },
): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, PAIR_ARGS, 'sip003 dev');
  if (values['help'] === true) {
    io.stdout(DEV_USAGE);
    return 0;
  }
  const spec = readPairSpec(values, positionals, 'sip003 dev');
  const entry = spec.client.path;
  const root = projectDir(entry);
  const events = eventQueue();
  const onSignal = (signal: string): void => events.push({ kind: 'stop', signal });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const watcher = watchSources(
    root,
    entry.startsWith(`${root}${sep}dist${sep}`),
    (path) => events.push({ kind: 'change', path }),
    {
      onLimit: (max) =>
        io.stderr(
          `sip003 dev: watching the first ${String(max)} folders of ${root} only; a change elsewhere restarts nothing (is that the project's folder?)`,
        ),
    },
  );
  let echo: TestServer | undefined;
  let pair: RunningPair | undefined;
  const stopPair = async (): Promise<void> => {
    if (pair === undefined) return;
    const outcomes = await pair.stop();
    pair = undefined;
    io.stdout(`stopped plugins: ${outcomes.join(', ')}`);
  };
  try {
    const target = spec.target ?? (echo = await startEchoServer());
    const targetText = `${echo === undefined ? '' : 'echo server '}${formatEndpoint(target)}`;
    // Fixed ports: a client reconnects to the same place after each restart.
    const ports = { server: await freePort(), client: await freePort() };
    io.stdout(`watching ${root} for changes; press Ctrl-C to stop`);
    for (let generation = 1; ; generation++) {
      try {
        pair = await startPair(spec, ports, target, io);
        io.stdout(describePair(pair, ports, targetText));
        for (const [role, plugin] of [
          ['client', pair.client],
          ['server', pair.server],
        ] as const) {
          const current = generation;
          plugin.child.once('exit', () =>
            events.push({
              kind: 'ended',
              generation: current,
              role,
              outcome: plugin.outcome() ?? '?',
            }),
          );
        }
      } catch (error) {
        io.stderr(reason(error));
        io.stdout('waiting for a change to restart');
      }
      let event = await events.next();
      // Until a change or a stop: a plugin that ends is shown once, the pair is not restarted.
      while (event.kind === 'ended') {
        if (event.generation === generation && pair !== undefined) {
          io.stderr(
            `${event.role} plugin ended (${event.outcome}); waiting for a change to restart`,
          );
          await stopPair();
        }
        event = await events.next();
      }
      if (event.kind === 'stop') {
        io.stdout(`stopping (${event.signal})`);
        return 0;
      }
      io.stdout(`restarting: ${event.path} changed`);
      await stopPair();
      events.dropChanges();
    }
  } finally {
    watcher.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stopPair();
    await echo?.close();
  }
}
