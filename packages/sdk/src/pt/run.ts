import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import { isIP, type Socket } from 'node:net';
import { runMain } from '../main.ts';
import {
  resolveConfig,
  runPlugin,
  type Plugin,
  type PluginHandle,
  type PluginOptions,
} from '../plugin.ts';
import type { OptionShape } from '../schema.ts';
import { redactValues } from '../shape.ts';
import type { Mode } from '../codec.ts';
import { EnvError, ErrorCode, PluginError, isPluginError } from '../errors.ts';
import { formatEndpoint, unbracket, type Endpoint } from '../address.ts';
import { ExitCode, startLifecycle, type Stoppable } from '../lifecycle.ts';
import { createLogger, parseLogLevel, stderrSink, type Logger } from '../log.ts';
import { startManagedProxy, type ManagedProxy } from './managed-proxy.ts';
import { socks5Dial, type PtArgs } from './socks5.ts';

/** What a plugin's options say about the PT to run. */
export interface ManagedTransportConfig {
  /** The PT executable: a path, or a name looked up on PATH. */
  exec: string;
  transport: string;
  /** TOR_PT_STATE_LOCATION; left out, a fresh temporary directory removed at exit. */
  stateDir?: string;
  /** Client: the per-connection arguments sent with every SOCKS5 dial. */
  clientArgs?: PtArgs;
  /** Server: TOR_PT_SERVER_TRANSPORT_OPTIONS for the transport. */
  serverOptions?: PtArgs;
  /** Default 10 s. */
  startupTimeoutMs?: number;
}

export interface ManagedTransportSpec<O> {
  /** Maps the typed options to the PT's configuration (after the plugin's `check`). */
  configure(options: O, mode: Mode): ManagedTransportConfig;
  /** Server: called once the PT listens, e.g. to publish what clients need (`proxy.args`). */
  onServerReady?(proxy: ManagedProxy, options: O, log: Logger): void | Promise<void>;
}

const HOST_ARGS = new Set(['-V', '--fast-open']);

function exitCodeOf(error: unknown): ExitCode {
  if (!isPluginError(error)) return ExitCode.INTERNAL;
  if (error.code === ErrorCode.LISTEN_FAILED) return ExitCode.LISTEN;
  return error.code.startsWith('SIP003_ENV_') ||
    error.code.startsWith('SIP003_OPTION_') ||
    error.code === ErrorCode.MODE_MISMATCH
    ? ExitCode.CONFIG
    : ExitCode.RUNTIME;
}

/** Server: the one IP literal and port the PT binds (pt-spec: "MUST NOT be a host name"). */
function bindAddressOf(hosts: readonly string[], port: number): Endpoint {
  const host = hosts.length === 1 ? unbracket(hosts[0]!) : undefined;
  if (host === undefined || isIP(host) === 0)
    throw new EnvError(
      'SS_REMOTE_HOST',
      'one IP address for the transport to listen on',
      hosts.join('|'),
    );
  return { host, port };
}

/**
 * The whole life of a SIP003 plugin that runs a Tor pluggable transport (PT 1.0 managed proxy) as
 * its child. Client side: starts the PT, listens on SS_LOCAL and dials SS_REMOTE through the PT's
 * SOCKS5 port with the per-connection arguments. Server side: the PT itself listens on SS_REMOTE and
 * forwards to SS_LOCAL; this process supervises it. Either way the PT dies with this process, and a
 * PT that exits on its own is a runtime failure (exit code 1) quoting the PT's last lines.
 * `--help`, `--version` and argv errors are {@link runMain}'s; `--check` prints secret options masked.
 *
 * Resolves with the exit code once the plugin is done (the bin entry exits with it); until then
 * it runs. The documented exit codes are the SDK's ({@link ExitCode}).
 */
export async function runManagedTransport<S extends OptionShape>(
  plugin: Plugin<S>,
  spec: ManagedTransportSpec<PluginOptions<S>>,
  argv: readonly string[] = process.argv.slice(2),
): Promise<number> {
  const write = (line: string): void => stderrSink(`${plugin.name}: ${line}`);
  const argWarnings = argv.filter((a) => HOST_ARGS.has(a)).map((a) => `argument ${a}: ignored`);
  const rest = argv.filter((a) => !HOST_ARGS.has(a));
  if (rest.length > 0 && !(rest.length === 1 && rest[0] === '--check')) {
    await runMain(plugin, rest); // --help, --version, or a one-line argv error
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.OK;
  }

  let resolved;
  try {
    resolved = resolveConfig(plugin, process.env);
  } catch (error) {
    write(error instanceof Error ? error.message : String(error));
    return exitCodeOf(error);
  }
  const { env, mode, options, warnings } = resolved;
  if (rest[0] === '--check') {
    const shown = redactValues(plugin.options ?? {}, options);
    process.stdout.write(`${plugin.name}: configuration OK (${mode}) ${JSON.stringify(shown)}\n`);
    return ExitCode.OK;
  }
  const level = options['log-level'] ?? parseLogLevel(process.env['SIP003_LOG_LEVEL']) ?? 'info';
  const log = createLogger({ name: plugin.name, level });
  for (const w of [...argWarnings, ...warnings]) log.warn(w);

  let proxy: ManagedProxy | undefined;
  let handle: PluginHandle | undefined;
  let tempState: string | undefined;
  const removeTemp = (): void => {
    if (tempState !== undefined) rmSync(tempState, { recursive: true, force: true });
    tempState = undefined;
  };
  // However this process ends, the PT goes with it (a SIGKILL of ours closes its stdin instead).
  process.once('exit', () => {
    try {
      if (proxy !== undefined) process.kill(proxy.pid, 'SIGKILL');
    } catch {
      // Already gone (ESRCH): nothing to take along.
    }
    removeTemp();
  });

  let done: (code: number) => void = () => undefined;
  const outcome = new Promise<number>((resolveOutcome) => (done = resolveOutcome));

  // A bug: say so with the stack and leave (the 'exit' hook above takes the PT along).
  const fatal = (label: string) => (error: unknown) => {
    write(`${label}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    done(ExitCode.INTERNAL);
  };
  process.on('uncaughtException', fatal('internal error (uncaught exception)'));
  process.on('unhandledRejection', fatal('internal error (unhandled rejection)'));

  // The SDK's one shutdown path (signals, host gone, failures), in first: a host may stop us
  // while the PT starts, and the stop then runs once the work below is attached.
  const lifecycle = startLifecycle({
    log,
    drainMs: options['drain-timeout'] * 1000,
    exit: (code) => done(code),
  });
  let stopping = false;
  const work: Stoppable = {
    async stop(drainMs) {
      stopping = true;
      await handle?.close(drainMs);
      const exit = await proxy?.stop();
      proxy = undefined;
      if (exit !== undefined) log.debug(exit.message);
      removeTemp();
    },
    abort() {
      // A second signal: the process exits right after; the 'exit' hook kills the PT.
      stopping = true;
      void handle?.close(0);
    },
  };

  try {
    const config = spec.configure(options, mode);
    const stateDir =
      config.stateDir === undefined
        ? (tempState = mkdtempSync(join(tmpdir(), `${plugin.name}-`)))
        : isAbsolute(config.stateDir)
          ? config.stateDir
          : resolvePath(config.stateDir);
    const orPort: Endpoint = { host: env.localHosts[0] ?? '127.0.0.1', port: env.localPort };
    proxy = await startManagedProxy({
      exec: config.exec,
      mode,
      transport: config.transport,
      stateDir,
      log,
      ...(mode === 'server'
        ? { bindAddress: bindAddressOf(env.remoteHosts, env.remotePort), orPort }
        : {}),
      ...(config.serverOptions === undefined ? {} : { serverOptions: config.serverOptions }),
      ...(config.startupTimeoutMs === undefined
        ? {}
        : { startupTimeoutMs: config.startupTimeoutMs }),
    });
    const running = proxy;
    void running.exited.then((exit) => {
      if (exit.expected || stopping) return;
      log.error(exit.message);
      lifecycle.shutdown('transport-exited', ExitCode.RUNTIME);
    });
    log.info(`${config.transport} ${mode} started`, {
      exec: config.exec,
      pid: running.pid,
      state: stateDir,
    });

    if (mode === 'server') {
      await spec.onServerReady?.(running, options, log);
      log.info(
        `${config.transport} listening on ${formatEndpoint(running.address)}, forwarding to ${formatEndpoint(orPort)}`,
      );
    } else {
      handle = await runPlugin(
        { ...plugin, dial: dialThrough(running, config, options['connect-timeout'] * 1000) },
        { env: process.env },
      );
    }
    lifecycle.attach(work);
  } catch (error) {
    write(
      isPluginError(error)
        ? error.message
        : error instanceof Error
          ? (error.stack ?? error.message)
          : String(error),
    );
    // Not a stop of a running plugin: the one error line stays the only line (exit 2 for a
    // configuration the PT refused), then whatever did start is taken down.
    stopping = true;
    void work.stop(0, 'fatal-error').then(() => done(exitCodeOf(error)));
  }
  return outcome;
}

/** The client's dial: SOCKS5 through the PT with the arguments, failures explained. */
function dialThrough(
  proxy: ManagedProxy,
  config: ManagedTransportConfig,
  timeoutMs: number,
): (target: Endpoint, ctx: { signal: AbortSignal }) => Promise<Socket> {
  const { transport, clientArgs: args = {} } = config;
  return (target, ctx) =>
    socks5Dial({ proxy: proxy.address, target, args, timeoutMs, signal: ctx.signal }).catch(
      (error: unknown) => {
        throw new PluginError(
          ErrorCode.DIAL_FAILED,
          `${transport} to ${formatEndpoint(target)} failed: ${(error as Error).message} (when the ${transport} handshake never completes, the server's options (cert, iat-mode) do not match or it is not running ${transport})`,
          { cause: error },
        );
      },
    );
}
