import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { ErrorCode, OptionsError, PluginError } from '../errors.ts';
import { formatEndpoint, type Endpoint } from '../address.ts';
import type { Logger } from '../log.ts';
import type { Mode } from '../codec.ts';
import { formatServerTransportOptions, parsePtLine, type PtMessage } from './messages.ts';
import type { PtArgs } from './socks5.ts';

export interface ManagedProxyOptions {
  /** The PT executable (a path; a bare name is looked up on PATH by spawn). */
  exec: string;
  /** Arguments for it (obfs4proxy needs none). */
  args?: readonly string[];
  mode: Mode;
  /** The one transport to start (`obfs4`). */
  transport: string;
  /** TOR_PT_STATE_LOCATION: an absolute directory the PT keeps its keys in. */
  stateDir: string;
  /** Server: TOR_PT_SERVER_BINDADDR, where the PT listens (an IP literal). */
  bindAddress?: Endpoint;
  /** Server: TOR_PT_ORPORT, where the PT forwards plain bytes. */
  orPort?: Endpoint;
  /** Server: TOR_PT_SERVER_TRANSPORT_OPTIONS for the transport. */
  serverOptions?: PtArgs;
  /** Milliseconds from spawn until `CMETHODS DONE`/`SMETHODS DONE` (default 10 s). */
  startupTimeoutMs?: number;
  /** Receives the PT's LOG lines and stderr. */
  log: Logger;
  /** The environment the PT inherits, before the TOR_PT_* variables (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** How a started PT ended. */
export interface ManagedProxyExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when {@link ManagedProxy.stop} asked for it. */
  expected: boolean;
  /** One line naming the PT, how it ended and its last output lines. */
  message: string;
}

/** A PT running as our child, past its startup. */
export interface ManagedProxy {
  readonly pid: number;
  readonly transport: string;
  /** TOR_PT_STATE_LOCATION as given. */
  readonly stateDir: string;
  /** Client: the SOCKS5 address to dial through. Server: where the PT listens. */
  readonly address: Endpoint;
  /** Server: SMETHOD's ARGS, what a client needs (`cert`, `iat-mode`). Client: empty. */
  readonly args: Readonly<Record<string, string>>;
  /** Settles once the child has exited, whether asked to or not. Never rejects. */
  readonly exited: Promise<ManagedProxyExit>;
  /**
   * pt-spec 3.4: closes the PT's stdin, waits up to `graceMs` (default 2 s), then SIGTERM, then
   * SIGKILL after as long again. Idempotent.
   */
  stop(graceMs?: number): Promise<ManagedProxyExit>;
}

/** Lines of PT output kept to quote when it fails. */
const KEEP_LINES = 8;
const LINE_MAX = 4096;

/**
 * Calls `onLine` for each NL-terminated line of `stream` (pt-spec 3.3), without the NL. Unlike
 * readline it holds at most `LINE_MAX` characters: a longer line is cut there (its rest dropped up
 * to the next NL), so a PT writing without newlines cannot grow our memory. A last line without NL
 * is delivered at the end.
 */
function readLines(stream: Readable, onLine: (line: string) => void): void {
  let pending = '';
  let skipping = false;
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      const line = pending + text.slice(start, nl);
      pending = '';
      start = nl + 1;
      if (skipping) skipping = false;
      else onLine(line.length > LINE_MAX ? line.slice(0, LINE_MAX) : line);
    }
    if (skipping) return;
    pending += text.slice(start);
    if (pending.length > LINE_MAX) {
      onLine(pending.slice(0, LINE_MAX));
      pending = '';
      skipping = true;
    }
  });
  stream.on('end', () => {
    if (pending !== '' && !skipping) onLine(pending);
  });
}

/** Builds the PT 1.0 environment (pt-spec 3.2). */
export function ptEnvironment(options: ManagedProxyOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...(options.env ?? process.env),
    TOR_PT_MANAGED_TRANSPORT_VER: '1',
    TOR_PT_STATE_LOCATION: options.stateDir,
    TOR_PT_EXIT_ON_STDIN_CLOSE: '1',
  };
  if (options.mode === 'client') {
    env['TOR_PT_CLIENT_TRANSPORTS'] = options.transport;
    return env;
  }
  if (options.bindAddress === undefined || options.orPort === undefined)
    throw new TypeError('startManagedProxy: a server needs bindAddress and orPort');
  env['TOR_PT_SERVER_TRANSPORTS'] = options.transport;
  env['TOR_PT_SERVER_BINDADDR'] = `${options.transport}-${formatEndpoint(options.bindAddress)}`;
  env['TOR_PT_ORPORT'] = formatEndpoint(options.orPort);
  // pt-spec 3.2.3: a parent without the Extended ORPort "MUST set [it] to an empty string".
  env['TOR_PT_EXTENDED_SERVER_PORT'] = '';
  const transportOptions = formatServerTransportOptions(
    options.transport,
    options.serverOptions ?? {},
  );
  if (transportOptions !== '') env['TOR_PT_SERVER_TRANSPORT_OPTIONS'] = transportOptions;
  return env;
}

/** LOG severities (pt-spec: error, warning, notice, info, debug) onto our levels. */
function forwardLog(log: Logger, severity: string, message: string): void {
  if (severity === 'error') log.error(message);
  else if (severity === 'warning') log.warn(message);
  else if (severity === 'debug') log.debug(message);
  else log.info(message);
}

/** Waiting for VERSION, then for the METHOD lines, then running. */
type Phase = 'version' | 'methods' | 'running';

/**
 * Starts a Tor pluggable transport as a managed proxy (PT 1.0) and resolves once it reports its
 * transport ready. Rejects, with the child gone, on VERSION-ERROR, ENV-ERROR, PROXY-ERROR, a
 * METHOD-ERROR or a missing METHOD for the transport (OptionsError naming `exec` or `transport`),
 * a spawn failure (`exec`), an exit or a malformed line during startup, or the startup deadline
 * (SIP003_TIMEOUT).
 *
 * Lifetimes are tied both ways: the child's stdin is a pipe only we hold and
 * TOR_PT_EXIT_ON_STDIN_CLOSE=1 is set, so the PT exits when this process dies, even by SIGKILL; and
 * `exited` settles when the child goes, so the caller can fail with it.
 */
export function startManagedProxy(options: ManagedProxyOptions): Promise<ManagedProxy> {
  const { exec, transport, mode, log } = options;
  const env = ptEnvironment(options);
  const name = `${exec} (${transport} ${mode})`;
  const methodWord = mode === 'client' ? 'CMETHOD' : 'SMETHOD';
  const child: ChildProcess = spawn(exec, [...(options.args ?? [])], {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const recent: string[] = [];
  const keep = (line: string): void => {
    recent.push(line);
    if (recent.length > KEEP_LINES) recent.shift();
  };
  const lastLines = (): string =>
    recent.length === 0
      ? 'no output'
      : `last output: ${recent.map((l) => JSON.stringify(l)).join(' | ')}`;
  // The pipe breaks when the child dies; that is reported through 'exit', not as an error.
  child.stdin?.on('error', () => undefined);

  let phase: Phase = 'version';
  let stopping = false;
  let method: { address: Endpoint; args: Record<string, string> } | undefined;
  let methodError: string | undefined;
  let onStartupFailure: ((error: Error) => void) | undefined;

  const exited = new Promise<ManagedProxyExit>((resolve) => {
    // 'close', not 'exit': by then its stdout and stderr are read to the end, so the last lines
    // quoted are really the last.
    child.once('close', (code, signal) => {
      const how = signal === null ? `exit code ${code}` : `signal ${signal}`;
      resolve({
        code,
        signal,
        expected: stopping,
        message: `${name} exited (${how}); ${lastLines()}`,
      });
    });
    // A child that never started has no 'exit' to wait for.
    child.once('error', (error) => {
      if (child.pid === undefined)
        resolve({
          code: null,
          signal: null,
          expected: stopping,
          message: `${name} did not start: ${error.message}`,
        });
    });
  });

  const handle = (message: PtMessage, line: string): void => {
    keep(line);
    if (message.kind === 'LOG') {
      forwardLog(log, message.severity, `${transport}: ${message.message}`);
      return;
    }
    if (message.kind === 'STATUS') {
      if (log.debugEnabled) log.debug(`${transport} status`, message.fields);
      return;
    }
    const fail = onStartupFailure;
    if (fail === undefined) {
      // After startup only LOG and STATUS carry meaning; anything else is quoted if the PT dies.
      return;
    }
    switch (message.kind) {
      case 'malformed':
        fail(
          new PluginError(
            ErrorCode.PT_FAILED,
            `${name} wrote a malformed line (${message.reason}): ${JSON.stringify(line)}`,
          ),
        );
        return;
      case 'VERSION-ERROR':
        fail(
          new OptionsError(
            ErrorCode.OPTION_INVALID,
            'exec',
            'a PT speaking managed-proxy version 1',
            exec,
            `exec: ${exec} does not speak PT version 1 (VERSION-ERROR ${message.message})`,
          ),
        );
        return;
      case 'ENV-ERROR':
      case 'PROXY-ERROR':
        fail(
          new OptionsError(
            ErrorCode.OPTION_INVALID,
            'exec',
            'a PT accepting its configuration',
            exec,
            `exec: ${exec} refused its configuration (${message.kind} ${message.message})`,
          ),
        );
        return;
      case 'VERSION':
        if (phase !== 'version' || message.version !== '1') {
          fail(
            new PluginError(
              ErrorCode.PT_FAILED,
              `${name}: unexpected ${JSON.stringify(line)} (we offered version 1)`,
            ),
          );
          return;
        }
        phase = 'methods';
        return;
      case 'CMETHOD':
      case 'SMETHOD':
        if (message.transport !== transport) return;
        if (phase !== 'methods' || message.kind !== methodWord) {
          fail(new PluginError(ErrorCode.PT_FAILED, `${name}: unexpected ${JSON.stringify(line)}`));
          return;
        }
        if (message.kind === 'CMETHOD' && message.protocol !== 'socks5') {
          fail(
            new OptionsError(
              ErrorCode.OPTION_INVALID,
              'exec',
              'a PT offering SOCKS5',
              exec,
              `exec: ${exec} offers ${transport} over ${message.protocol}; only socks5 is supported`,
            ),
          );
          return;
        }
        method = { address: message.address, args: message.kind === 'SMETHOD' ? message.args : {} };
        return;
      case 'CMETHOD-ERROR':
      case 'SMETHOD-ERROR':
        if (message.transport === transport) methodError = message.message;
        return;
      case 'CMETHODS':
      case 'SMETHODS':
        if (message.kind !== `${methodWord}S`) {
          fail(new PluginError(ErrorCode.PT_FAILED, `${name}: unexpected ${JSON.stringify(line)}`));
          return;
        }
        if (method === undefined) {
          fail(
            new OptionsError(
              ErrorCode.OPTION_INVALID,
              'transport',
              `a transport ${exec} offers`,
              transport,
              methodError === undefined
                ? `transport: ${exec} does not offer ${JSON.stringify(transport)} as a ${mode} (no ${methodWord} line for it)`
                : `transport: ${exec} could not start ${transport}: ${methodError}`,
            ),
          );
          return;
        }
        phase = 'running';
        onStartupFailure = undefined;
        ready();
        return;
      case 'PROXY': // we set no TOR_PT_PROXY; a PT saying it accepted none is harmless
      case 'other': // pt-spec 3.3: the parent "MUST ignore" unknown keywords
        return;
    }
  };

  let ready: () => void = () => undefined;
  readLines(child.stdout!, (line) => handle(parsePtLine(line), line));
  readLines(child.stderr!, (line) => {
    keep(line);
    log.warn(`${transport} stderr: ${line}`);
  });

  let stopped: Promise<ManagedProxyExit> | undefined;
  const stop = (graceMs = 2000): Promise<ManagedProxyExit> => {
    stopped ??= (async () => {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin?.end();
        const escalate = (signal: NodeJS.Signals, after: number): NodeJS.Timeout =>
          setTimeout(() => child.kill(signal), after);
        const timers = [escalate('SIGTERM', graceMs), escalate('SIGKILL', graceMs * 2)];
        await exited;
        for (const t of timers) clearTimeout(t);
      }
      return exited;
    })();
    return stopped;
  };

  return new Promise<ManagedProxy>((resolve, reject) => {
    const timeoutMs = options.startupTimeoutMs ?? 10_000;
    const timer = setTimeout(() => {
      onStartupFailure?.(
        new PluginError(
          ErrorCode.TIMEOUT,
          `${name} did not report ${transport} ready (${methodWord}S DONE) within ${timeoutMs / 1000} s; ${lastLines()}`,
        ),
      );
    }, timeoutMs);
    onStartupFailure = (error) => {
      onStartupFailure = undefined;
      clearTimeout(timer);
      // Reject once the child is really gone, so no PT outlives a failed start.
      void stop(200).then(() => reject(error));
    };
    child.once('error', (error: NodeJS.ErrnoException) => {
      onStartupFailure?.(
        new OptionsError(
          ErrorCode.OPTION_INVALID,
          'exec',
          'an executable PT',
          exec,
          `exec: cannot run ${JSON.stringify(exec)}: ${error.code === 'ENOENT' ? 'no such file' : error.code === 'EACCES' ? 'not executable' : error.message}`,
        ),
      );
    });
    void exited.then((exit) => {
      onStartupFailure?.(
        new PluginError(
          ErrorCode.PT_FAILED,
          `${exit.message}, before reporting ${transport} ready`,
        ),
      );
    });
    ready = () => {
      clearTimeout(timer);
      resolve({
        pid: child.pid!,
        transport,
        stateDir: options.stateDir,
        address: method!.address,
        args: method!.args,
        exited,
        stop,
      });
    };
  });
}
