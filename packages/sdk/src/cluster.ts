import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { ExitCode, type Lifecycle, type StopReason } from './lifecycle.ts';
import type { ConnectionGate } from './listener.ts';
import type { Logger } from './log.ts';

export interface PrimaryOptions {
  workers: number;
  /** The plugin's argv, passed on to every worker. */
  argv: readonly string[];
  /** max-connections, for the whole plugin: the primary keeps the one count. */
  maxConnections: number;
  log: Logger;
  /** The process's one stop path; the primary attaches the workers to it. */
  lifecycle: Lifecycle;
}

/** The messages between the primary and its workers (over the cluster's IPC channel). */
type Message =
  | { sip003: 'stop'; reason: StopReason }
  | { sip003: 'acquire'; id: number }
  | { sip003: 'acquired'; id: number; ok: boolean }
  | { sip003: 'release' };

/** Sends over IPC; a channel that closed meanwhile is not an error (its 'disconnect' is). */
function send(to: { send?: NodeJS.Process['send'] } | Worker, message: Message): void {
  (to as Worker).send(message, undefined, () => undefined);
}

function isMessage(value: unknown): value is Message {
  return typeof value === 'object' && value !== null && 'sip003' in value;
}

/** Worker restarts allowed per minute before the primary gives up (exit 1). */
const MAX_RESTARTS_PER_MINUTE = 5;

/** After their drain, workers get this long before they are killed (less when the host is gone). */
const GRACE_MS = 2000;
const HOST_GONE_GRACE_MS = 500;

/**
 * The primary process of `workers=N` (server side): forks N workers that run the plugin and share
 * the listening sockets, and owns the lifecycle. Workers accept on the shared socket themselves
 * (SCHED_NONE), so the primary stays off the data path; it only keeps the max-connections count,
 * so that the limit holds for the plugin as a whole and no worker refuses while another has room.
 * Every way out goes through `lifecycle.shutdown`.
 */
export function runPrimary({
  workers,
  argv,
  maxConnections,
  log,
  lifecycle,
}: PrimaryOptions): void {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ args: [...argv], silent: false });
  const live = new Set<Worker>();
  /** Workers that listen, and so can take a stop message (earlier ones get SIGTERM). */
  const ready = new Set<Worker>();
  const held = new Map<Worker, number>();
  let open = 0;
  let stopping = false;
  const restarts: number[] = [];

  const onMessage = (worker: Worker, message: unknown): void => {
    if (!isMessage(message)) return;
    if (message.sip003 === 'acquire') {
      const ok = open < maxConnections;
      if (ok) {
        open++;
        held.set(worker, (held.get(worker) ?? 0) + 1);
      }
      send(worker, { sip003: 'acquired', id: message.id, ok });
    } else if (message.sip003 === 'release') {
      open--;
      held.set(worker, (held.get(worker) ?? 1) - 1);
    }
  };
  const fork = (): Worker => {
    const worker = cluster.fork({ SIP003_WORKER: '1' });
    live.add(worker);
    worker.on('message', (message: unknown) => onMessage(worker, message));
    worker.once('listening', () => ready.add(worker));
    worker.once('exit', () => {
      live.delete(worker);
      ready.delete(worker);
      // A dead worker's connections died with it.
      open -= held.get(worker) ?? 0;
      held.delete(worker);
    });
    return worker;
  };
  const allExited = (): Promise<void> =>
    live.size === 0
      ? Promise.resolve()
      : new Promise((resolve) => cluster.on('exit', () => live.size === 0 && resolve()));

  lifecycle.attach({
    stop(drainMs, reason) {
      stopping = true;
      log.info(`stopping ${live.size} workers`);
      // A worker that listens drains by the same rule as a single process; one still starting
      // has nothing to drain, and may not have its message handler yet.
      for (const w of live) {
        if (ready.has(w)) send(w, { sip003: 'stop', reason });
        else w.process.kill('SIGTERM');
      }
      const grace = drainMs === 0 ? HOST_GONE_GRACE_MS : GRACE_MS;
      const killer = setTimeout(() => {
        for (const w of live) w.process.kill('SIGKILL');
      }, drainMs + grace);
      return allExited().finally(() => clearTimeout(killer));
    },
    abort() {
      for (const w of live) w.process.kill('SIGKILL');
    },
  });

  // Start: every worker must listen; the first one that exits instead decides the exit code
  // (it has printed its own one-line reason, e.g. EADDRINUSE → 3).
  const started = Array.from({ length: workers }, fork);
  void Promise.race([
    Promise.all(started.map((w) => once(w, 'listening'))).then(() => undefined),
    ...started.map((w) =>
      once(w, 'exit').then(([code]) => (code as number | null) ?? ExitCode.RUNTIME),
    ),
  ]).then((outcome) => {
    if (stopping) return;
    if (outcome !== undefined) {
      lifecycle.shutdown(
        'workers-failed',
        outcome === 0 ? ExitCode.RUNTIME : (outcome as ExitCode),
      );
      return;
    }
    log.info(`${workers} workers listening`, {
      pids: [...live].map((w) => w.process.pid).join(','),
    });
    cluster.on('exit', (worker, code, signal) => {
      if (stopping) return;
      const now = Date.now();
      restarts.push(now);
      while (restarts.length > 0 && now - (restarts[0] ?? now) > 60_000) restarts.shift();
      if (restarts.length > MAX_RESTARTS_PER_MINUTE) {
        log.error(
          `worker ${worker.process.pid ?? '?'} exited (${signal ?? code}); too many restarts, giving up`,
        );
        lifecycle.shutdown('workers-failed', ExitCode.RUNTIME);
        return;
      }
      const next = fork();
      log.warn(
        `worker ${worker.process.pid ?? '?'} exited (${signal ?? code}); started worker ${next.process.pid ?? '?'} in its place`,
      );
    });
  });
}

/**
 * In a worker: the primary's stop message and the loss of the IPC channel (the primary died,
 * even by SIGKILL) are shutdown triggers like the signals.
 */
export function followPrimary(lifecycle: Lifecycle): void {
  process.on('message', (message: unknown) => {
    if (isMessage(message) && message.sip003 === 'stop') lifecycle.shutdown(message.reason);
  });
  process.once('disconnect', () => lifecycle.shutdown('parent-exited'));
}

/** In a worker: admission through the primary's count (max-connections for the whole plugin). */
export function primaryGate(): ConnectionGate {
  let nextId = 0;
  const waiting = new Map<number, (ok: boolean) => void>();
  process.on('message', (message: unknown) => {
    if (!isMessage(message) || message.sip003 !== 'acquired') return;
    waiting.get(message.id)?.(message.ok);
    waiting.delete(message.id);
  });
  // Without a primary nobody answers: refuse whatever still waits (we are stopping anyway).
  process.once('disconnect', () => {
    for (const answer of waiting.values()) answer(false);
    waiting.clear();
  });
  return {
    acquire: () =>
      new Promise<boolean>((resolve) => {
        if (!process.connected) {
          resolve(false);
          return;
        }
        const id = ++nextId;
        waiting.set(id, resolve);
        send(process, { sip003: 'acquire', id });
      }),
    release: () => {
      if (process.connected) send(process, { sip003: 'release' });
    },
  };
}
