/**
 * @packageDocumentation
 * Write shadowsocks SIP003 plugins in TypeScript. A plugin declares its options and a
 * per-connection pair of codecs; the SDK reads the environment, listens, dials, relays with
 * exact half-close and backpressure, and stops with its host.
 *
 * This entry is what a plugin author uses (24 names, listed in packages/sdk/README.md). The
 * building blocks (listen, relay, lifecycle, logger...) are in `@sip003/sdk/advanced`.
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
export { definePlugin, runPlugin } from './plugin.ts';
export type { Plugin, PluginHandle, PluginOptions } from './plugin.ts';
export { runMain } from './main.ts';
export { option } from './schema.ts';
export { parseOptions, formatOptions } from './options.ts';
export { readEnv } from './env.ts';
export type { PluginEnv } from './env.ts';
export type { Endpoint } from './address.ts';
export type { Codec, Mode, Push, Session, SessionContext } from './codec.ts';
export type { Logger } from './log.ts';
export { ExitCode } from './lifecycle.ts';
export { ErrorCode, PluginError, OptionsError, ProtocolError, isPluginError } from './errors.ts';
