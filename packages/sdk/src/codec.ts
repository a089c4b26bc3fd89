import type { Duplex } from 'node:stream';
import type { Logger } from './log.ts';
import type { Endpoint } from './address.ts';
import type { PluginEnv } from './env.ts';

/** Emit bytes from a codec. Pushing a zero-length chunk is a no-op. */
export type Push = (data: Uint8Array) => void;

/**
 * One direction of a connection's transform. Synchronous first: return nothing and the next
 * chunk follows at once; return a promise only when you really must wait (slow path).
 */
export interface Codec {
  /** Called for every chunk read; push zero or more chunks. Throw a ProtocolError on bad input. */
  transform(chunk: Buffer, push: Push): void | Promise<void>;
  /** Called once when this direction ends (the peer half-closed); push trailers if any. */
  flush?(push: Push): void | Promise<void>;
  /**
   * Inbound codec only: called when the handshake deadline passes before anything was pushed.
   * Push (after `ctx.redirect()`, say) to go on with the connection; push nothing to close it.
   */
  expire?(push: Push): void;
}

/**
 * A connection's pair of codecs, relative to the wire (the hop between the two plugins):
 * `encode` transforms bytes going to the other plugin, `decode` bytes coming from it.
 * A missing codec is a plain pipe for that direction.
 */
export interface Session {
  encode?: Codec | Duplex;
  decode?: Codec | Duplex;
}

export type Mode = 'client' | 'server';

/** What a session factory learns about its connection. */
export interface SessionContext<O = Record<string, unknown>> {
  /** Small integer, unique within the process, for logs. */
  readonly id: number;
  readonly mode: Mode;
  /** The plugin's parsed, typed options. */
  readonly options: O;
  readonly env: PluginEnv;
  /** The peer that connected to us. */
  readonly peer: Endpoint;
  /** Where this connection will be dialed, unless {@link SessionContext.redirect} changes it. */
  readonly target: Endpoint;
  /** Connection-scoped logger (carries `conn=<id>`). */
  readonly log: Logger;
  /** Fires when the connection is torn down. */
  readonly signal: AbortSignal;
  /**
   * Dial another endpoint instead of `target` (e.g. a failover web server). Only effective before
   * the first byte is pushed toward the dialed side, which is when the SDK dials.
   */
  redirect(to: Endpoint): void;
  /**
   * Write bytes straight back to the accepted socket, ahead of anything the other direction will
   * send. For early replies (e.g. an HTTP 101 sent before upstream is connected).
   */
  respond(data: Uint8Array): void;
}

/**
 * Called once per connection; state shared by the two codecs lives in its closure. Either codec
 * may instead be a ready-made Node Duplex used as a transform (write input, read output), such
 * as a zlib stream: the escape hatch.
 */
export type SessionFactory<O = Record<string, unknown>> = (ctx: SessionContext<O>) => Session;

/** True when `value` is a Node stream rather than a codec object. */
export function isDuplex(value: Codec | Duplex): value is Duplex {
  return (
    typeof (value as Duplex).pipe === 'function' && typeof (value as Duplex).write === 'function'
  );
}
