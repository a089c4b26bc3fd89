import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { codecToTransform, isDuplex, type Codec, type CodecTransform } from './codec.ts';
import { ErrorCode, PluginError, errnoCode } from './errors.ts';
import type { Endpoint } from './address.ts';
import type { Logger } from './log.ts';

/** Opens the outbound socket (see listener.ts `dial`). */
export type DialFunction = (to: Endpoint, signal: AbortSignal) => Promise<Socket>;

export interface RelayOptions {
  /** The socket we accepted. */
  accepted: Socket;
  /** Transform for accepted → dialed, and for dialed → accepted. Undefined = plain pipe. */
  inbound: Codec | Duplex | undefined;
  outbound: Codec | Duplex | undefined;
  /** Where to dial; read when the first byte is ready, so `redirect()` can still change it. */
  target: () => Endpoint;
  dial: DialFunction;
  /** Milliseconds from accept until the first byte goes out (0 = no limit). */
  handshakeTimeout: number;
  /** Milliseconds without traffic either way before closing (0 = never). */
  idleTimeout: number;
  log: Logger;
  /** Aborted by the relay at teardown; aborting it from outside tears the connection down. */
  controller: AbortController;
}

/** How a connection ended. */
export interface RelayOutcome {
  /** Undefined for a clean close (both directions ended normally). */
  error: Error | undefined;
  bytesIn: number;
  bytesOut: number;
  /** Whether the outbound side was ever dialed. */
  dialed: boolean;
}

function reset(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    // Not a TCP handle (e.g. a test double): a plain destroy follows in finish().
  }
}

/** Errors that are just a peer going away; logged at debug, not counted as failures. */
const ORDINARY = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'ECONNABORTED']);
export function isOrdinaryClose(error: unknown): boolean {
  const code = errnoCode(error);
  return code !== undefined && ORDINARY.has(code);
}

/**
 * Joins the accepted socket and a lazily dialed one through the session's transforms.
 *
 * The outbound socket is dialed when the first byte toward it is ready (simple-obfs does the
 * same; it also keeps shadowsocks-rust's connect probes from reaching upstream). Each direction
 * is its own `pipeline`, so a FIN travels alone and the other direction keeps flowing (exact
 * half-close; both sockets have allowHalfOpen). Never rejects: the outcome says how it ended.
 */
export function relay(options: RelayOptions): Promise<RelayOutcome> {
  const { accepted, log, controller } = options;
  let dialed: Socket | undefined;
  let settled = false;
  let failure: Error | undefined;
  let resolveOutcome!: (outcome: RelayOutcome) => void;
  const outcome = new Promise<RelayOutcome>((resolve) => {
    resolveOutcome = resolve;
  });
  const timers: NodeJS.Timeout[] = [];

  const finish = (error?: Error): void => {
    if (settled) return;
    settled = true;
    failure ??= error;
    for (const t of timers) clearTimeout(t);
    accepted.setTimeout(0);
    // A broken connection is reset, so neither end mistakes it for a clean end of data.
    if (failure !== undefined) {
      reset(accepted);
      if (dialed !== undefined) reset(dialed);
    }
    accepted.destroy();
    dialed?.destroy();
    if (!controller.signal.aborted) controller.abort(failure);
    resolveOutcome({
      error: failure,
      bytesIn: accepted.bytesRead,
      bytesOut: accepted.bytesWritten,
      dialed: dialed !== undefined,
    });
  };
  const fail = (error: unknown): void => {
    finish(error instanceof Error ? error : new Error(String(error)));
  };
  controller.signal.addEventListener(
    'abort',
    () => {
      if (!settled)
        fail(controller.signal.reason ?? new PluginError(ErrorCode.TIMEOUT, 'connection aborted'));
    },
    { once: true },
  );

  // Every socket gets an error listener the moment it exists; pipelines report errors too.
  accepted.on('error', fail);
  if (options.idleTimeout > 0) {
    // Reads and writes both refresh a socket's timer, and every byte relayed either way is read
    // from or written to `accepted`, so one timer covers both directions.
    accepted.setTimeout(options.idleTimeout, () => {
      fail(new PluginError(ErrorCode.TIMEOUT, `idle for ${options.idleTimeout / 1000} s`));
    });
  }

  let started = false;
  let inbound: CodecTransform | Duplex | undefined;
  const startDial = (): void => {
    if (started || settled) return;
    started = true;
    const to = options.target();
    options.dial(to, controller.signal).then((socket) => {
      if (settled) {
        socket.destroy();
        return;
      }
      dialed = socket;
      socket.on('error', fail);
      connected(socket);
    }, fail);
  };

  const directions: Promise<void>[] = [];
  const connected = (socket: Socket): void => {
    for (const t of timers.splice(0)) clearTimeout(t);
    if (inbound === undefined) {
      if (pendingFirst !== undefined) socket.write(pendingFirst);
      pendingFirst = undefined;
      directions.push(pipeline(accepted, socket));
    } else {
      directions.push(pipeline(inbound, socket));
    }
    const out = options.outbound;
    if (out === undefined) directions.push(pipeline(socket, accepted));
    else
      directions.push(
        pipeline(socket, isDuplex(out) ? out : codecToTransform(out, { onError: fail }), accepted),
      );
    Promise.all(directions).then(() => finish(), fail);
  };

  if (options.handshakeTimeout > 0) {
    timers.push(
      setTimeout(() => {
        if (started) return;
        // Give an inbound codec the chance to route the stalled connection (e.g. to failover).
        if (inbound !== undefined && 'expire' in inbound) {
          try {
            if (inbound.expire()) return;
          } catch (error) {
            fail(error);
            return;
          }
        }
        fail(
          new PluginError(
            ErrorCode.TIMEOUT,
            `no handshake within ${options.handshakeTimeout / 1000} s`,
          ),
        );
      }, options.handshakeTimeout),
    );
  }

  let pendingFirst: Buffer | undefined;
  const source = options.inbound;
  if (source === undefined) {
    // Plain pipe: wait for the first chunk, hold it, and dial.
    const onData = (chunk: Buffer): void => {
      accepted.pause();
      accepted.off('end', onEarlyEnd);
      pendingFirst = chunk;
      startDial();
    };
    const onEarlyEnd = (): void => {
      // The peer closed before sending anything (a connect probe): nothing to forward.
      accepted.off('data', onData);
      accepted.end();
      finish();
    };
    accepted.once('data', onData);
    accepted.once('end', onEarlyEnd);
  } else if (isDuplex(source)) {
    // A ready-made stream: we cannot see its first output without consuming it, so dial now.
    inbound = source;
    directions.push(pipeline(accepted, source));
    startDial();
  } else {
    const transform = codecToTransform(source, { onFirstPush: startDial, onError: fail });
    inbound = transform;
    transform.once('finish', () => {
      // The inbound side ended and the codec never produced a byte: close quietly.
      if (!started) {
        accepted.end();
        finish();
      }
    });
    directions.push(pipeline(accepted, transform));
  }
  // An early error in the accepted→codec leg must tear down at once, not wait for the dial.
  for (const direction of directions) direction.catch(fail);
  log.debug('accepted');
  return outcome;
}
