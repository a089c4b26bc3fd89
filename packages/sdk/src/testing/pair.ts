import type { Socket } from 'node:net';
import { runPlugin, type Plugin, type PluginHandle, type PluginOptions } from '../plugin.ts';
import type { CommonOptions, OptionShape } from '../schema.ts';
import { formatOptions } from '../options.ts';
import type { LogSink } from '../log.ts';
import { openConnection } from './servers.ts';

/**
 * Option values a test passes to `plugin`, keyed by the plugin's option names and the SDK's common
 * ones, so a misspelled key (`pad-mim`) does not compile. Values are written as the option string
 * would carry them.
 */
// eslint-disable-next-line @typescript-eslint/consistent-indexed-object-style -- as a Record, `{}` is not assignable while S is generic
export type PairOptionValues<S extends OptionShape> = {
  readonly [K in keyof S | keyof CommonOptions]?: string | number | boolean;
};

export interface PluginPairOptions<S extends OptionShape = OptionShape> {
  /** Where the server plugin forwards (an echo server, say). */
  target: { host?: string; port: number };
  /** Options for both sides (`{ obfs: 'tls' }`); `server` is added for the server side. */
  options?: PairOptionValues<S>;
  clientOptions?: PairOptionValues<S>;
  serverOptions?: PairOptionValues<S>;
  /** Log lines of both plugins (default: dropped). Lines start with the plugin name. */
  logSink?: LogSink;
  host?: string;
}

/** A client plugin and a server plugin running in this process on real loopback sockets. */
export interface PluginPair<O> {
  readonly client: PluginHandle<O>;
  readonly server: PluginHandle<O>;
  /** Where the client plugin listens: connect here as ss-local would. */
  readonly port: number;
  readonly host: string;
  connect(): Promise<Socket>;
  close(): Promise<void>;
}

/**
 * Starts a plugin pair exactly as two SIP003 hosts would configure it (the server side with the
 * `server` flag), in-process, on 127.0.0.1 with free ports.
 */
export async function startPluginPair<S extends OptionShape>(
  plugin: Plugin<S>,
  {
    target,
    options = {},
    clientOptions = {},
    serverOptions = {},
    logSink = () => undefined,
    host = '127.0.0.1',
  }: PluginPairOptions<S>,
): Promise<PluginPair<PluginOptions<S>>> {
  const server = await runPlugin(plugin, {
    env: {
      SS_REMOTE_HOST: host,
      SS_REMOTE_PORT: '1',
      SS_LOCAL_HOST: target.host ?? host,
      SS_LOCAL_PORT: String(target.port),
      SS_PLUGIN_OPTIONS: formatOptions({ ...options, ...serverOptions, server: true }),
    },
    listenPort: 0,
    logSink,
  });
  const serverPort = server.addresses[0]!.port;
  let client: PluginHandle<PluginOptions<S>>;
  try {
    client = await runPlugin(plugin, {
      env: {
        SS_REMOTE_HOST: host,
        SS_REMOTE_PORT: String(serverPort),
        SS_LOCAL_HOST: host,
        SS_LOCAL_PORT: '1',
        SS_PLUGIN_OPTIONS: formatOptions({ ...options, ...clientOptions }),
      },
      listenPort: 0,
      logSink,
    });
  } catch (error) {
    await server.close(0);
    throw error;
  }
  const port = client.addresses[0]!.port;
  return {
    client,
    server,
    port,
    host,
    connect: () => openConnection(port, host),
    async close() {
      await Promise.all([client.close(0), server.close(0)]);
    },
  };
}
