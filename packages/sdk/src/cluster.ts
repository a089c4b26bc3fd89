import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { ExitCode, handleSignals, watchParent, type StopReason } from './lifecycle.ts';
import type { Logger } from './log.ts';

export interface PrimaryOptions {
  workers: number;
  /** The plugin's argv, passed on to every worker. */
  argv: readonly string[];
  /** Milliseconds workers get to drain after SIGTERM before they are killed. */
  drainMs: number;
  log: Logger;
}

/** Worker restarts allowed per minute before the primary gives up (exit 1). */
const MAX_RESTARTS_PER_MINUTE = 5;

/**
 * The primary process of `workers=N` (server side): forks N workers that run the plugin and share
 * the listening sockets, and owns the lifecycle. Workers accept on the shared socket themselves
 * (SCHED_NONE), so the primary stays off the data path. Resolves with the exit code.
 */
export async function runPrimary({
  workers,
  argv,
  drainMs,
  log,
}: PrimaryOptions): Promise<ExitCode> {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ args: [...argv], silent: false });
  const live = new Set<Worker>();
  let stopping = false;
  const restarts: number[] = [];
  let finish!: (code: ExitCode) => void;
  const done = new Promise<ExitCode>((resolve) => (finish = resolve));

  const fork = (): Worker => {
    const worker = cluster.fork({ SIP003_WORKER: '1' });
    live.add(worker);
    worker.once('exit', () => live.delete(worker));
    return worker;
  };

  // The stop path is in place before any worker starts: a host may signal us (or die) while the
  // workers are still coming up, and that must end in a clean stop, not a kill by default action.
  const stop = (reason: StopReason, code: ExitCode = ExitCode.OK): void => {
    if (stopping) return;
    stopping = true;
    log.info(`stopping ${live.size} workers (${reason})`);
    unwatch();
    removeSignals();
    const drain = reason === 'stdin-closed' || reason === 'parent-exited' ? 0 : drainMs;
    for (const w of live) w.process.kill('SIGTERM');
    // Workers drain on their own; whatever is still alive after the drain and a grace is killed.
    setTimeout(() => {
      for (const w of live) w.process.kill('SIGKILL');
    }, drain + 2000).unref();
    if (live.size === 0) finish(code);
    else cluster.on('exit', () => live.size === 0 && finish(code));
  };
  const removeSignals = handleSignals({
    onStop: (reason) => stop(reason),
    onForce: (code) => {
      for (const w of live) w.process.kill('SIGKILL');
      finish(code);
    },
  });
  const unwatch = watchParent({ onGone: (reason) => stop(reason) });

  // Start: every worker must listen; the first one that exits instead decides the exit code
  // (it has printed its own one-line reason, e.g. EADDRINUSE → 3).
  const started = Array.from({ length: workers }, fork);
  const outcome = await Promise.race([
    Promise.all(started.map((w) => once(w, 'listening'))).then(() => undefined),
    ...started.map((w) =>
      once(w, 'exit').then(([code]) => (code as number | null) ?? ExitCode.RUNTIME),
    ),
    done.then(() => 'stopped' as const),
  ]);
  // Stopped (or forced out by a second signal) while starting: nothing more to set up.
  if (stopping || outcome === 'stopped') return done;
  if (outcome !== undefined) {
    unwatch();
    removeSignals();
    for (const w of live) w.process.kill('SIGKILL');
    return outcome === 0 ? ExitCode.RUNTIME : (outcome as ExitCode);
  }
  log.info(`${workers} workers listening`, { pids: [...live].map((w) => w.process.pid).join(',') });

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return; // stop() resolves once the last one is gone
    const now = Date.now();
    restarts.push(now);
    while (restarts.length > 0 && now - (restarts[0] ?? now) > 60_000) restarts.shift();
    if (restarts.length > MAX_RESTARTS_PER_MINUTE) {
      log.error(
        `worker ${worker.process.pid ?? '?'} exited (${signal ?? code}); too many restarts, giving up`,
      );
      stop('parent-exited', ExitCode.RUNTIME);
      return;
    }
    const next = fork();
    log.warn(
      `worker ${worker.process.pid ?? '?'} exited (${signal ?? code}); started worker ${next.process.pid ?? '?'} in its place`,
    );
  });
  return done;
}
