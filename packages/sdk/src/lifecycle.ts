import { fstatSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Logger } from './log.ts';

/**
 * Exit codes of every plugin built on the SDK (documented in the README). Configuration errors
 * get their own code so a service manager can refuse to restart-loop on them
 * (`RestartPreventExitStatus=2`).
 */
export const ExitCode = {
  /** Stopped cleanly: SIGTERM/SIGINT, or the host went away. */
  OK: 0,
  /** Failed while running (a listening socket died). */
  RUNTIME: 1,
  /** Bad environment, options or command line. */
  CONFIG: 2,
  /** Could not listen (address in use, permission denied, no such address). */
  LISTEN: 3,
  /** A bug: an uncaught exception or unhandled rejection. */
  INTERNAL: 70,
  /** A second SIGINT forced an immediate exit. */
  FORCED_SIGINT: 130,
  /** A second SIGTERM forced an immediate exit. */
  FORCED_SIGTERM: 143,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * Why the plugin is stopping: asked to by a signal; the host is gone (EOF on its stdin pipe, or
 * our parent changed); `workers=N` gave up (a worker could not start, or too many restarts); or a
 * bug (an uncaught exception or unhandled rejection).
 */
export type StopReason =
  | 'SIGTERM'
  | 'SIGINT'
  | 'SIGHUP'
  | 'stdin-closed'
  | 'parent-exited'
  | 'workers-failed'
  /** A managed transport (a Tor PT child) exited on its own. */
  | 'transport-exited'
  | 'fatal-error';

/**
 * The drain rule: only a stop someone asked for (a signal) lets open connections finish. A host
 * that is gone cannot wait (it must be gone within 1 s), and after a failure nobody should.
 */
export function drainFor(reason: StopReason, drainMs: number): number {
  return reason === 'SIGTERM' || reason === 'SIGINT' || reason === 'SIGHUP' ? drainMs : 0;
}

export interface WatchParentOptions {
  /** Called once when the host is gone. */
  onGone: (reason: StopReason) => void;
  /** Standard input; EOF counts only when it is a pipe or socket. Default process.stdin. */
  stdin?: Readable & { unref?: () => void };
  /** File descriptor to inspect for the pipe test. Default 0. */
  stdinFd?: number;
  /** How often to compare process.ppid. Default 250 ms. */
  intervalMs?: number;
}

/** True when fd is a FIFO or socket (ss-libev's pipe), false for /dev/null, a file or a TTY. */
export function isPipe(fd: number): boolean {
  try {
    const stat = fstatSync(fd);
    return stat.isFIFO() || stat.isSocket();
  } catch {
    return false;
  }
}

/**
 * Detects the death of the host process, even by SIGKILL. Two signals, as in obfs4proxy's
 * termmon: EOF on stdin when stdin is a pipe whose write end the host holds (ss-libev), and a
 * change of process.ppid (a Node child sees its ppid switch to 1 or a subreaper once the parent
 * dies). shadowsocks-rust gives /dev/null as stdin, which is at EOF from the start, so EOF counts
 * only for pipes. Returns a function that stops watching.
 */
export function watchParent(options: WatchParentOptions): () => void {
  const { onGone, intervalMs = 250 } = options;
  let done = false;
  const gone = (reason: StopReason): void => {
    if (done) return;
    done = true;
    stop();
    onGone(reason);
  };
  const initialPpid = process.ppid;
  const timer =
    initialPpid > 1
      ? setInterval(() => {
          if (process.ppid !== initialPpid) gone('parent-exited');
        }, intervalMs).unref()
      : undefined;

  let stdin: (Readable & { unref?: () => void }) | undefined;
  const onEnd = (): void => gone('stdin-closed');
  if (isPipe(options.stdinFd ?? 0)) {
    stdin = options.stdin ?? process.stdin;
    stdin.on('end', onEnd);
    stdin.on('error', onEnd);
    // We only wait for EOF; whatever a host writes is read and dropped.
    stdin.on('data', () => undefined);
    stdin.unref?.();
  }
  function stop(): void {
    if (timer !== undefined) clearInterval(timer);
    if (stdin !== undefined) {
      stdin.off('end', onEnd);
      stdin.off('error', onEnd);
      stdin.pause();
      stdin = undefined;
    }
  }
  return () => {
    done = true;
    stop();
  };
}

export interface SignalOptions {
  /** First SIGTERM/SIGINT/SIGHUP: begin a graceful stop. */
  onStop: (reason: StopReason) => void;
  /** A second signal: leave now with this exit code. */
  onForce: (code: ExitCode) => void;
}

/** Installs the signal handlers; returns a function that removes them. */
export function handleSignals({ onStop, onForce }: SignalOptions): () => void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      onForce(signal === 'SIGINT' ? ExitCode.FORCED_SIGINT : ExitCode.FORCED_SIGTERM);
      return;
    }
    stopping = true;
    onStop(signal as StopReason);
  };
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}

/** What a shutdown stops: the plugin in this process, or the workers of a `workers=N` primary. */
export interface Stoppable {
  /** Stops accepting and lets open connections finish for up to `drainMs`; resolves when done. */
  stop(drainMs: number, reason: StopReason): Promise<void>;
  /** A second signal: end everything now (the process exits right after). */
  abort(): void;
}

export interface LifecycleOptions {
  log: Logger;
  /** The drain-timeout option, in milliseconds. */
  drainMs: number;
  /** Ends the process (runMain passes process.exit: only bin entries end the process). */
  exit: (code: ExitCode) => void;
}

/** The one stop path of a plugin process: every trigger ends in `shutdown(reason)`. */
export interface Lifecycle {
  /** Logs why, stops watching, stops the attached work (drained or not) and exits with `code`. */
  shutdown(reason: StopReason, code?: ExitCode): void;
  /** What to stop once it runs. A shutdown asked for before this runs now. */
  attach(work: Stoppable): void;
}

/** After a bug, the stop gets this long before the process exits anyway. */
const FATAL_STOP_MS = 1000;

/**
 * Installs the triggers (SIGTERM/SIGINT/SIGHUP, stdin EOF, parent change) before anything
 * listens: a host may send SIGTERM as soon as the port accepts, and without a handler that would
 * kill us with no exit code. Other triggers (fatal errors, workers giving up, the primary's stop
 * message) call `shutdown` themselves. One shutdown runs; later ones are ignored, except a fatal
 * error, which exits at once.
 */
export function startLifecycle({ log, drainMs, exit }: LifecycleOptions): Lifecycle {
  let work: Stoppable | undefined;
  let pending: { reason: StopReason; code: ExitCode } | undefined;
  let stopping = false;
  const shutdown = (reason: StopReason, code: ExitCode = ExitCode.OK): void => {
    // A bug while starting or stopping ends the process now; anything else waits or is ignored.
    if (reason === 'fatal-error' && (stopping || work === undefined)) {
      exit(code);
      return;
    }
    if (stopping) return;
    if (work === undefined) {
      pending ??= { reason, code };
      return;
    }
    stopping = true;
    unwatch();
    log.info(`stopping (${reason})`);
    if (reason === 'fatal-error') setTimeout(() => exit(code), FATAL_STOP_MS).unref();
    work.stop(drainFor(reason, drainMs), reason).then(
      () => {
        removeSignals();
        exit(code);
      },
      (error: unknown) => {
        log.error(
          `error while stopping: ${error instanceof Error ? error.message : String(error)}`,
        );
        exit(ExitCode.INTERNAL);
      },
    );
  };
  const removeSignals = handleSignals({
    onStop: (reason) => shutdown(reason),
    onForce: (code) => {
      work?.abort();
      exit(code);
    },
  });
  const unwatch = watchParent({ onGone: (reason) => shutdown(reason) });
  return {
    shutdown,
    attach(stoppable) {
      work = stoppable;
      if (pending !== undefined) shutdown(pending.reason, pending.code);
    },
  };
}
