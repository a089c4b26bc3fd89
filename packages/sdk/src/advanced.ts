/**
 * @packageDocumentation
 * `@sip003/sdk/advanced`: the building blocks `runMain` and `runPlugin` are made of, for a
 * program that needs its own main loop (embed a relay, listen on its own terms, run its own
 * lifecycle). Plugins do not need them. Everything here is semver surface like the root entry.
 */
export { resolveConfig } from './plugin.ts';
export type {
  OwnOptionShape,
  PluginDefinition,
  PluginStats,
  ResolvedConfig,
  RunPluginOptions,
} from './plugin.ts';
export { commonOptions } from './schema.ts';
export { validateOptions, describeOptions } from './shape.ts';
export type { ValidatedOptions } from './shape.ts';
export type { CommonOptions, OptionSchema, OptionShape, OptionValues } from './schema.ts';
export { escapeOption } from './options.ts';
export type { OptionEntry } from './options.ts';
export { parseEndpoint, formatEndpoint } from './address.ts';
export type { SessionFactory } from './codec.ts';
export { relay, connectTo } from './relay.ts';
export type { Relay, RelayConfig, RelayOutcome, RelayRoute, RelayStreams } from './relay.ts';
export { listen, countingGate } from './listener.ts';
export type { ConnectionGate, ConnectionHandler, Listener, ListenOptions } from './listener.ts';
export { startLifecycle, watchParent, handleSignals, drainFor } from './lifecycle.ts';
export type {
  Lifecycle,
  LifecycleOptions,
  SignalOptions,
  StopReason,
  Stoppable,
  WatchParentOptions,
} from './lifecycle.ts';
export { createLogger, stderrSink, parseLogLevel, PeerEventLog } from './log.ts';
export type { EventSummary, LogFields, LogLevel, LoggerOptions, LogSink } from './log.ts';
export { EnvError, ListenError } from './errors.ts';
