/**
 * @packageDocumentation
 * Host a Tor pluggable transport (PT 1.0 managed proxy, such as obfs4proxy) in a SIP003 plugin:
 * the supervisor that runs the PT as a child, the SOCKS5 dial that carries the PT's per-connection
 * arguments, and the runner that ties both to a plugin's life.
 */
export { startManagedProxy, ptEnvironment } from './managed-proxy.ts';
export type { ManagedProxy, ManagedProxyExit, ManagedProxyOptions } from './managed-proxy.ts';
export {
  parsePtLine,
  parseSmethodArgs,
  parseKeyValueLine,
  formatServerTransportOptions,
} from './messages.ts';
export type { PtMessage } from './messages.ts';
export { socks5Dial, formatPtArgs, socksAddress } from './socks5.ts';
export type { PtArgs, Socks5DialOptions } from './socks5.ts';
export { resolveExecutable } from './executable.ts';
export { runManagedTransport } from './run.ts';
export type { ManagedTransportConfig, ManagedTransportSpec } from './run.ts';
