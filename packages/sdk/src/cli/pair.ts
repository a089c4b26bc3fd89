/**
 * A client/server plugin pair as ss-libev would start it, for `sip003 run` and `sip003 dev`: the
 * command-line options that describe it, and starting and stopping it on given loopback ports.
 */
import { parseEndpoint, type Endpoint } from '../address.ts';
import { ErrorCode, PluginError } from '../errors.ts';
import { parseOptions } from '../options.ts';
import { loopbackPluginEnv, waitForPort } from '../testing/processes.ts';
import { usageError } from './failures.ts';
import { pluginCommand, spawnPlugin, type PluginCommand, type PluginProcess } from './launch.ts';

/** The options `run` and `dev` share, in `parseCommandLine`'s form. */
export const PAIR_ARGS = {
  options: { type: 'string' },
  'client-options': { type: 'string' },
  'server-options': { type: 'string' },
  'server-plugin': { type: 'string' },
  'client-plugin': { type: 'string' },
  target: { type: 'string' },
  'no-server-flag': { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

/** Their help lines. */
export const PAIR_USAGE = `  <plugin>                 plugin executable, .js/.mjs/.cjs file (run with this node) or
                           .ts/.mts/.cts file (run with this node through tsx)
  --options <opts>         SS_PLUGIN_OPTIONS for both sides, e.g. "obfs=tls;obfs-host=a.com"
  --client-options <opts>  extra options for the client side
  --server-options <opts>  extra options for the server side
  --server-plugin <path>   run another executable as the server side (e.g. obfs-server)
  --client-plugin <path>   run another executable as the client side (e.g. obfs-local)
  --no-server-flag         do not add "server" to the server side's options (simple-obfs)
  --target <host:port>     where the server side forwards (default: built-in echo server)`;

/** What to start: two plugins, their options, and where the server side forwards. */
export interface PairSpec {
  readonly client: PluginCommand;
  readonly server: PluginCommand;
  readonly clientOptions: string;
  readonly serverOptions: string;
  /** undefined: a built-in echo server. */
  readonly target: Endpoint | undefined;
}

function checkOptions(text: string | undefined, flag: string, command: string): string {
  if (text === undefined) return '';
  try {
    parseOptions(text);
  } catch (error) {
    throw usageError(`${command}: ${flag}: ${(error as Error).message}`);
  }
  return text;
}

const join = (...parts: string[]): string => parts.filter((p) => p !== '').join(';');

/** The pair the parsed command line describes; one-line `SIP003_USAGE` errors otherwise. */
export function readPairSpec(
  values: Readonly<Record<string, string | boolean | undefined>>,
  positionals: readonly string[],
  command: string,
): PairSpec {
  const text = (name: string): string | undefined => values[name] as string | undefined;
  const plugin = positionals[0];
  const clientSpec = text('client-plugin') ?? plugin;
  const serverSpec = text('server-plugin') ?? plugin;
  if (clientSpec === undefined || serverSpec === undefined)
    throw usageError(
      `${command}: expected a plugin executable, got nothing (see ${command} --help)`,
    );
  if (positionals.length > 1)
    throw usageError(
      `${command}: expected one plugin, got ${positionals.length}: ${positionals.join(' ')}`,
    );
  const client = pluginCommand(clientSpec, 'client plugin', command);
  const server = pluginCommand(serverSpec, 'server plugin', command);
  const common = checkOptions(text('options'), '--options', command);
  let target: Endpoint | undefined;
  const targetText = text('target');
  if (targetText !== undefined) {
    target = parseEndpoint(targetText);
    if (target === undefined)
      throw usageError(
        `${command}: --target: expected host:port, got ${JSON.stringify(targetText)}`,
      );
  }
  return {
    client,
    server,
    clientOptions: join(common, checkOptions(text('client-options'), '--client-options', command)),
    serverOptions: join(
      values['no-server-flag'] === true ? '' : 'server',
      common,
      checkOptions(text('server-options'), '--server-options', command),
    ),
    target,
  };
}

/** A started pair. */
export interface RunningPair {
  readonly client: PluginProcess;
  readonly server: PluginProcess;
  /** Stops both by PID; returns how each ended (`client exit 0`, `server signal SIGTERM`). */
  stop(): Promise<string[]>;
}

/** Waits until the plugin accepts on its port; a failure is a one-line LISTEN_FAILED. */
async function waitListening(port: number, plugin: PluginProcess, role: string): Promise<void> {
  try {
    await waitForPort(port, { child: plugin.child });
  } catch (error) {
    const outcome = plugin.outcome();
    throw new PluginError(
      ErrorCode.LISTEN_FAILED,
      outcome === undefined
        ? `${role}: ${(error as Error).message}`
        : `${role} ended (${outcome}) before it listened on 127.0.0.1:${port}`,
    );
  }
}

/**
 * Starts the server side on `serverPort` forwarding to `target`, then the client side on
 * `clientPort` dialing it, and waits until both accept. On a failure both are stopped.
 */
export async function startPair(
  spec: PairSpec,
  ports: { client: number; server: number },
  target: Endpoint,
  io: { stderr(line: string): void },
): Promise<RunningPair> {
  const started: PluginProcess[] = [];
  const stopAll = (): Promise<string[]> =>
    Promise.all(started.map(async (p, i) => `${i === 0 ? 'server' : 'client'} ${await p.stop()}`));
  try {
    const server = spawnPlugin(
      spec.server,
      {
        ...loopbackPluginEnv(ports.server, target.port, spec.serverOptions),
        SS_LOCAL_HOST: target.host,
      },
      'server',
      io,
    );
    started.push(server);
    await waitListening(ports.server, server, 'server plugin');
    const client = spawnPlugin(
      spec.client,
      loopbackPluginEnv(ports.server, ports.client, spec.clientOptions),
      'client',
      io,
    );
    started.push(client);
    await waitListening(ports.client, client, 'client plugin');
    return { client, server, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** `client plugin (pid 1) listens on 127.0.0.1:X -> server plugin (pid 2) on ... -> target`. */
export function describePair(
  pair: RunningPair,
  ports: { client: number; server: number },
  target: string,
): string {
  return `client plugin (pid ${pair.client.child.pid}) listens on 127.0.0.1:${ports.client} -> server plugin (pid ${pair.server.child.pid}) on 127.0.0.1:${ports.server} -> ${target}`;
}
