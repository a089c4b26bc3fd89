import type { Socket } from 'node:net';
import { readEnv, type PluginEnv } from './env.ts';
import { parseOptions } from './options.ts';
import {
  commonOptions,
  type CommonOptions,
  type OptionShape,
  type OptionValues,
} from './schema.ts';
import { redactEntries, validateOptions } from './shape.ts';
import { ErrorCode, OptionsError, PluginError, errnoCode, isPluginError } from './errors.ts';
import { formatEndpoint, isUnspecified, type Endpoint } from './address.ts';
import {
  createLogger,
  parseLogLevel,
  PeerEventLog,
  type LogLevel,
  type LogSink,
  type Logger,
} from './log.ts';
import { countingGate, listen, type ConnectionGate, type Listener } from './listener.ts';
import { relay, isOrdinaryClose, isPluginBug, type RelayConfig } from './relay.ts';
import { ConnectionContext, type SharedContext } from './context.ts';
import type { Mode, Session, SessionContext, SessionFactory } from './codec.ts';

declare const __SIP003_PLUGIN_VERSION__: string | undefined;

/** A plugin's typed options: its own plus the SDK's common ones. */
export type PluginOptions<S extends OptionShape> = OptionValues<S> & CommonOptions;

/** The names of the SDK's common options (`server`, `log-level`, ...). */
type CommonOptionName = keyof typeof commonOptions;

/**
 * A plugin's own option declarations. The common options are the SDK's: a plugin that declared
 * `server` again could change what decides the mode, so those names do not compile here (and
 * definePlugin throws a TypeError for them at run time).
 */
export type OwnOptionShape = OptionShape & Partial<Readonly<Record<CommonOptionName, never>>>;

/** What a plugin author writes. */
export interface PluginDefinition<S extends OptionShape = OptionShape> {
  /** The executable's name, used in logs and messages (`obfs-http-plugin`). */
  name: string;
  /** Defaults to the version `sip003 bundle` stamps in, else `0.0.0-dev`. */
  version?: string;
  /** One line for `--help`. */
  description?: string;
  /** Option declarations built with `option.*`. */
  options?: S;
  /** Other spellings of option names: `{ t: 'idle-timeout' }`. */
  aliases?: Readonly<Record<string, string>>;
  /** Keys accepted with one warning and otherwise ignored: key → reason. */
  tolerated?: Readonly<Record<string, string>>;
  /**
   * Checks across options, after parsing: throw (`OptionsError.invalid(option, message)`, or any
   * error: its message is the one line printed, exit 2), or return warnings to log.
   */
  check?: (options: PluginOptions<S>, mode: Mode) => readonly string[] | undefined;
  /** Per-connection codecs. Leave it out for a plain relay. */
  session?: SessionFactory<PluginOptions<S>>;
  /**
   * Opens the outbound socket of a connection instead of a plain TCP connect to `target` (e.g. a
   * SOCKS5 dial through a Tor PT: `socks5Dial` from `@sip003/sdk/pt`). May resolve later; the
   * connection's bytes wait, `connect-timeout` covers it, a rejection is a dial failure.
   */
  dial?: (target: Endpoint, ctx: SessionContext<PluginOptions<S>>) => Socket | Promise<Socket>;
}

/** A defined plugin: the definition with its version resolved. */
export interface Plugin<S extends OptionShape = OptionShape> extends PluginDefinition<S> {
  readonly version: string;
}

/** Declares a plugin. A typed identity: it checks the definition and fills in the version. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- a plugin with no options of its own
export function definePlugin<const S extends OwnOptionShape = {}>(
  definition: PluginDefinition<S>,
): Plugin<S> {
  if (typeof definition.name !== 'string' || definition.name === '') {
    throw new TypeError('definePlugin: name must be a non-empty string');
  }
  const common = Object.keys(definition.options ?? {}).filter((key) => key in commonOptions);
  if (common.length > 0) {
    throw new TypeError(
      `definePlugin: option ${common.map((key) => JSON.stringify(key)).join(', ')} is one of the SDK's common options (${Object.keys(commonOptions).join(', ')}); a plugin cannot redeclare it`,
    );
  }
  if (definition.session !== undefined && typeof definition.session !== 'function') {
    throw new TypeError('definePlugin: session must be a function returning { encode, decode }');
  }
  const stamped =
    typeof __SIP003_PLUGIN_VERSION__ === 'string' ? __SIP003_PLUGIN_VERSION__ : undefined;
  return Object.freeze({ ...definition, version: definition.version ?? stamped ?? '0.0.0-dev' });
}

/** Counters of a running plugin. */
export interface PluginStats {
  accepted: number;
  active: number;
  /** Connections that ended with an error other than an ordinary reset. */
  failed: number;
  /** Connections refused because max-connections was reached. */
  dropped: number;
  bytesIn: number;
  bytesOut: number;
}

export interface RunPluginOptions {
  /** Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Where log lines go (default stderr). Tests pass a collector. */
  logSink?: LogSink;
  /** Listen on this port instead of the environment's (0 = any free port; for tests). */
  listenPort?: number;
}

/** A running plugin. */
export interface PluginHandle<O = unknown> {
  readonly mode: Mode;
  readonly options: O;
  readonly env: PluginEnv;
  /** Where it listens (ports resolved when 0 was asked for). */
  readonly addresses: readonly Endpoint[];
  readonly stats: Readonly<PluginStats>;
  readonly log: Logger;
  /**
   * Stops accepting, lets open connections finish for up to `drainMs` (default: the
   * `drain-timeout` option), then destroys the rest. Idempotent.
   */
  close(drainMs?: number): Promise<void>;
}

/** A configuration read from the environment, checked against the mode. */
export interface ResolvedConfig<S extends OptionShape = OptionShape> {
  env: PluginEnv;
  mode: Mode;
  options: PluginOptions<S>;
  warnings: string[];
}

/** Reads env and options and checks them against the mode; throws PluginErrors. */
export function resolveConfig<S extends OptionShape>(
  plugin: Plugin<S>,
  envVars: NodeJS.ProcessEnv,
): ResolvedConfig<S> {
  const env = readEnv(envVars);
  const entries = parseOptions(env.pluginOptions ?? '');
  const spec = {
    shape: plugin.options ?? ({} as S),
    ...(plugin.aliases === undefined ? {} : { aliases: plugin.aliases }),
    ...(plugin.tolerated === undefined ? {} : { tolerated: plugin.tolerated }),
  };
  const { values, warnings } = validateOptions(entries, spec);
  const options = values as PluginOptions<S>;
  const mode: Mode = options.server ? 'server' : 'client';
  if (mode === 'client') {
    const any = env.remoteHosts.find(isUnspecified);
    if (any !== undefined) {
      throw new PluginError(
        ErrorCode.MODE_MISMATCH,
        `SS_REMOTE_HOST is ${JSON.stringify(any)}, an address to listen on, so this is the server side; add "server" to the plugin options (SS_PLUGIN_OPTIONS=${JSON.stringify(redactEntries(entries, spec))})`,
      );
    }
  }
  let checked: readonly string[] | undefined;
  try {
    checked = plugin.check?.(options, mode);
  } catch (error) {
    if (isPluginError(error)) throw error;
    // check exists to refuse combinations of options, so whatever it throws is a configuration
    // error (exit 2, one line), not a crash; the original stays in `cause`.
    throw new OptionsError(
      ErrorCode.OPTION_INVALID,
      'SS_PLUGIN_OPTIONS',
      'options the plugin accepts',
      undefined,
      error instanceof Error ? error.message : String(error),
      { cause: error },
    );
  }
  warnings.push(...(checked ?? []));
  return { env, mode, options, warnings };
}

/**
 * The global flag (`Symbol.for`, so every copy of the SDK in a process sees it) that runMain and
 * runPlugin set when called: the entry `sip003 bundle` generates runs the entry's exported plugin
 * only when loading the entry started none.
 */
export const STARTED_FLAG = 'sip003.started';

/** Records that this process started a plugin (see {@link STARTED_FLAG}). */
export function markStarted(): void {
  (globalThis as Record<symbol, unknown>)[Symbol.for(STARTED_FLAG)] = true;
}

/** The log level: the log-level option, else SIP003_LOG_LEVEL, else info. */
export function logLevelOf(options: CommonOptions, envVars: NodeJS.ProcessEnv): LogLevel {
  return options['log-level'] ?? parseLogLevel(envVars['SIP003_LOG_LEVEL']) ?? 'info';
}

/**
 * Runs a plugin in this process: reads the environment, validates options, listens, and relays
 * every connection through the plugin's session. Resolves once listening. Throws a PluginError
 * (EnvError, OptionsError, ListenError...) when it cannot start.
 */
export async function runPlugin<S extends OptionShape>(
  plugin: Plugin<S>,
  { env: envVars = process.env, logSink, listenPort }: RunPluginOptions = {},
): Promise<PluginHandle<PluginOptions<S>>> {
  markStarted();
  const config = resolveConfig(plugin, envVars);
  const log = createLogger({
    name: plugin.name,
    level: logLevelOf(config.options, envVars),
    ...(logSink === undefined ? {} : { sink: logSink }),
  });
  for (const warning of config.warnings) log.warn(warning);
  return startPlugin(plugin, config, {
    log,
    ...(listenPort === undefined ? {} : { listenPort }),
  });
}

/** Stack frames shown for a bug: enough to find the line, bounded like V8's own default. */
const STACK_FRAMES = 10;

/** The `at ...` lines of an error's stack, trimmed. */
function stackFrames(error: Error): string[] {
  return (error.stack ?? '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('at '))
    .slice(0, STACK_FRAMES);
}

/**
 * Logs a failed connection. A peer's doing (a ProtocolError, a timeout, a dial failure) is a
 * warning without a stack, one line per error code and window. A bug in the plugin (its codec
 * threw a TypeError, say) is an error with the stack: the author needs the line, and a bug is not
 * the peer's fault. Either way the connection is reset, never ended cleanly, and the process stays
 * up. Bugs are rate-limited per site (the top stack frame), since a peer can hit one at will too.
 */
function reportFailure(
  events: PeerEventLog,
  error: unknown,
  { bug, conn, bytes, what = 'connection failed' }: FailureReport,
): void {
  const failure = error instanceof Error ? error : new Error(String(error));
  if (!bug) {
    const code = errnoCode(failure) ?? 'error';
    events.warn(
      `failed:${code}`,
      `${what}: ${failure.message}`,
      (count, seconds) => `${count} more connections failed (${code}) in the last ${seconds} s`,
      { conn, code, ...bytes },
    );
    return;
  }
  const frames = stackFrames(failure);
  const site = frames[0] ?? 'at an unknown place';
  events.error(
    `bug:${site}`,
    `${what} on a bug in the plugin, connection reset: ${failure.name}: ${failure.message}`,
    (count, seconds) =>
      `${count} more connections failed on the same bug (${failure.name} ${site}) in the last ${seconds} s`,
    { conn, ...bytes, stack: frames.join(', ') },
  );
}

interface FailureReport {
  /** A bug in the plugin rather than the peer's or the network's doing. */
  bug: boolean;
  conn: number;
  bytes?: { in: number; out: number };
  /** What failed (default `connection failed`). */
  what?: string;
}

export interface StartOptions {
  log: Logger;
  /** Listen on this port instead of the environment's (0 = any free port). */
  listenPort?: number;
  /** Who admits connections (default: max-connections counted in this process). */
  gate?: ConnectionGate;
}

/** Listens and relays with a configuration already resolved (runPlugin and runMain share it). */
export async function startPlugin<S extends OptionShape>(
  plugin: Plugin<S>,
  { env, mode, options }: ResolvedConfig<S>,
  { log, listenPort: portOverride, gate }: StartOptions,
): Promise<PluginHandle<PluginOptions<S>>> {
  const listenHosts = mode === 'client' ? env.localHosts : env.remoteHosts;
  const listenPort = portOverride ?? (mode === 'client' ? env.localPort : env.remotePort);
  const upstream: readonly Endpoint[] =
    mode === 'client'
      ? env.remoteHosts.map((host) => ({ host, port: env.remotePort }))
      : [{ host: env.localHosts[0] ?? '127.0.0.1', port: env.localPort }];
  // ss-libev gives a client several servers as `a|b`; like simple-obfs, pick one per connection.
  const pickTarget = (): Endpoint =>
    upstream.length === 1 ? upstream[0]! : upstream[Math.floor(Math.random() * upstream.length)]!;

  const stats: PluginStats = {
    accepted: 0,
    active: 0,
    failed: 0,
    dropped: 0,
    bytesIn: 0,
    bytesOut: 0,
  };
  const maxConnections = options['max-connections'];
  // What a remote peer can cause at will is logged at a bounded rate.
  const peerEvents = new PeerEventLog(log);
  // At debug level, one line per accepted and per closed connection: up to 20 of each a second,
  // the rest of a flood counted.
  const connectionEvents = new PeerEventLog(log, 1000, 20);
  const factory = plugin.session;
  // Resolved whenever the last open connection closes (for the drain on shutdown).
  let idleWaiters: (() => void)[] = [];
  const relayConfig: RelayConfig<ConnectionContext<PluginOptions<S>>> = {
    connectTimeout: options['connect-timeout'] * 1000,
    handshakeTimeout: options['handshake-timeout'] * 1000,
    idleTimeout: options['idle-timeout'] * 1000,
    ...(plugin.dial === undefined ? {} : { connect: plugin.dial }),
    onClose({ error, bytesIn, bytesOut }, ctx) {
      ctx.closed(error);
      stats.active--;
      stats.bytesIn += bytesIn;
      stats.bytesOut += bytesOut;
      if (error === undefined || isOrdinaryClose(error)) {
        if (log.debugEnabled) {
          connectionEvents.debug(
            'closed',
            'closed',
            (count, seconds) => `${count} more connections closed in the last ${seconds} s`,
            {
              conn: ctx.id,
              in: bytesIn,
              out: bytesOut,
              reason: error === undefined ? undefined : errnoCode(error),
            },
          );
        }
      } else {
        stats.failed++;
        reportFailure(peerEvents, error, {
          bug: isPluginBug(error),
          conn: ctx.id,
          bytes: { in: bytesIn, out: bytesOut },
        });
      }
      if (stats.active === 0 && idleWaiters.length > 0) {
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const wake of waiters) wake();
      }
    },
  };
  const shared: SharedContext<PluginOptions<S>> = { mode, options, env, log };
  let nextId = 0;

  const onConnection = (socket: Socket): void => {
    stats.accepted++;
    stats.active++;
    const ctx = new ConnectionContext(++nextId, shared, socket, pickTarget());
    if (log.debugEnabled) {
      connectionEvents.debug(
        'accept',
        `accept conn=${ctx.id} from ${formatEndpoint({ host: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 })}`,
        (count, seconds) => `accepted ${count} more connections in the last ${seconds} s`,
      );
    }
    let session: Session = {};
    if (factory !== undefined) {
      try {
        session = factory(ctx);
      } catch (error) {
        stats.active--;
        stats.failed++;
        reportFailure(peerEvents, error, {
          bug: !isPluginError(error),
          conn: ctx.id,
          what: 'session failed to start',
        });
        // listen() requires an 'error' listener on every socket it hands over.
        socket.on('error', () => undefined);
        socket.resetAndDestroy();
        return;
      }
    }
    const streams =
      mode === 'client'
        ? { inbound: session.encode, outbound: session.decode }
        : { inbound: session.decode, outbound: session.encode };
    ctx.relay = relay(socket, streams, ctx, relayConfig);
  };

  let listener: Listener;
  try {
    listener = await listen(
      {
        hosts: listenHosts,
        port: listenPort,
        gate: gate ?? countingGate(maxConnections),
        onDrop: () => {
          stats.dropped++;
          peerEvents.warn(
            'refused',
            `max-connections (${maxConnections}) reached; connection refused`,
            (count, seconds) =>
              `refused ${count} more connections in the last ${seconds} s (max-connections=${maxConnections})`,
          );
        },
      },
      onConnection,
    );
  } catch (error) {
    if (mode === 'client' && errnoCode((error as Error).cause) === 'EADDRINUSE') {
      (error as Error).message +=
        `; something already listens there: if this is the server side (ss-server), add "server" to the plugin options`;
    }
    throw error;
  }
  log.info(
    `listening on ${listener.addresses.map(formatEndpoint).join(', ')}, forwarding to ${upstream.map(formatEndpoint).join(' | ')}`,
    { mode, version: plugin.version },
  );

  let closing: Promise<void> | undefined;
  const close = (drainMs = options['drain-timeout'] * 1000): Promise<void> => {
    closing ??= (async () => {
      await listener.stopAccepting();
      if (listener.connections.size > 0 && drainMs > 0) {
        log.info(
          `draining ${listener.connections.size} connection(s) for up to ${drainMs / 1000} s`,
        );
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, drainMs);
          idleWaiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      await listener.close();
      peerEvents.flush();
      connectionEvents.flush();
    })();
    return closing;
  };

  return {
    mode,
    options,
    env,
    addresses: listener.addresses,
    stats,
    log,
    close,
  };
}
