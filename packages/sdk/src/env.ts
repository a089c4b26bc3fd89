import { EnvError } from './errors.ts';
import { isValidHost, parsePort, unbracket } from './address.ts';

export const SS_REMOTE_HOST = 'SS_REMOTE_HOST';
export const SS_REMOTE_PORT = 'SS_REMOTE_PORT';
export const SS_LOCAL_HOST = 'SS_LOCAL_HOST';
export const SS_LOCAL_PORT = 'SS_LOCAL_PORT';
export const SS_PLUGIN_OPTIONS = 'SS_PLUGIN_OPTIONS';

/** The SIP003 environment, validated. Frozen. */
export interface PluginEnv {
  /** One or more hosts: ss-libev joins several with `|`. Brackets removed, names unresolved. */
  readonly remoteHosts: readonly string[];
  readonly remotePort: number;
  readonly localHosts: readonly string[];
  readonly localPort: number;
  /** SS_PLUGIN_OPTIONS verbatim; undefined when the host did not set it. */
  readonly pluginOptions: string | undefined;
}

const HOST_EXPECTED = 'a host name or IP address (several joined with "|")';
const PORT_EXPECTED = 'an integer from 1 to 65535';

function readHosts(env: NodeJS.ProcessEnv, name: string): string[] {
  const raw = env[name];
  if (raw === undefined || raw === '') throw new EnvError(name, HOST_EXPECTED, raw);
  const hosts = raw.split('|').map((h) => h.trim());
  for (const host of hosts) {
    if (!isValidHost(host)) throw new EnvError(name, HOST_EXPECTED, raw);
  }
  return hosts.map(unbracket);
}

function readPort(env: NodeJS.ProcessEnv, name: string): number {
  const raw = env[name];
  if (raw === undefined || raw === '') throw new EnvError(name, PORT_EXPECTED, raw);
  const port = parsePort(raw.trim());
  if (port === undefined) throw new EnvError(name, PORT_EXPECTED, raw);
  return port;
}

/**
 * Reads and validates the SIP003 variables from `env` (default `process.env`). The only function
 * in the SDK that looks at the environment. Throws an EnvError naming the first bad variable.
 */
export function readEnv(env: NodeJS.ProcessEnv = process.env): PluginEnv {
  return Object.freeze({
    remoteHosts: Object.freeze(readHosts(env, SS_REMOTE_HOST)),
    remotePort: readPort(env, SS_REMOTE_PORT),
    localHosts: Object.freeze(readHosts(env, SS_LOCAL_HOST)),
    localPort: readPort(env, SS_LOCAL_PORT),
    pluginOptions: env[SS_PLUGIN_OPTIONS],
  });
}
