/**
 * @packageDocumentation
 * Write shadowsocks SIP003 plugins in TypeScript. A plugin declares its options and a
 * per-connection pair of codecs; the SDK reads the environment, listens, dials, relays with
 * exact half-close and backpressure, and stops with its host.
 *
 * @example
 * ```ts
 * import { definePlugin, runMain, option } from '@sip003/sdk';
 * const plugin = definePlugin({
 *   name: 'xor-plugin',
 *   options: { key: option.int({ min: 0, max: 255, default: 0x5a }) },
 *   session: ({ options }) => {
 *     const xor = { transform: (chunk: Buffer, push: (b: Uint8Array) => void) => push(chunk.map((b) => b ^ options.key)) };
 *     return { encode: xor, decode: xor };
 *   },
 * });
 * void runMain(plugin);
 * ```
 */
export { definePlugin, runPlugin, resolveConfig } from './plugin.ts';
export type {
  Plugin,
  PluginDefinition,
  PluginHandle,
  PluginOptions,
  PluginStats,
  RunPluginOptions,
} from './plugin.ts';
export { runMain, helpText } from './main.ts';
export {
  option,
  commonOptions,
  validateOptions,
  describeOptions,
  suggest,
  HOST_ADDED_OPTIONS,
} from './schema.ts';
export type {
  OptionSchema,
  OptionShape,
  OptionValues,
  RawOption,
  CommonOptions,
  ValidatedOptions,
} from './schema.ts';
export { parseOptions, formatOptions, escapeOption } from './options.ts';
export type { OptionEntry } from './options.ts';
export {
  readEnv,
  SS_REMOTE_HOST,
  SS_REMOTE_PORT,
  SS_LOCAL_HOST,
  SS_LOCAL_PORT,
  SS_PLUGIN_OPTIONS,
} from './env.ts';
export type { PluginEnv } from './env.ts';
export {
  formatEndpoint,
  parseEndpoint,
  parsePort,
  isUnspecified,
  isValidHost,
  unbracket,
} from './address.ts';
export type { Endpoint } from './address.ts';
export { isDuplex } from './codec.ts';
export type { Codec, Mode, Push, Session, SessionContext, SessionFactory } from './codec.ts';
export { relay, isOrdinaryClose, connectTo } from './relay.ts';
export type { Relay, RelayConfig, RelayOutcome, RelayRoute, RelayStreams } from './relay.ts';
export { listen } from './listener.ts';
export type { Listener, ListenOptions, ConnectionHandler } from './listener.ts';
export { ExitCode, watchParent, handleSignals, isPipe } from './lifecycle.ts';
export type { StopReason, WatchParentOptions, SignalOptions } from './lifecycle.ts';
export { createLogger, silentLogger, stderrSink, parseLogLevel, trace } from './log.ts';
export type { Logger, LogLevel, LogFields, LogSink, LoggerOptions } from './log.ts';
export {
  ErrorCode,
  PluginError,
  EnvError,
  OptionsError,
  ListenError,
  ProtocolError,
  isPluginError,
  errnoCode,
} from './errors.ts';
