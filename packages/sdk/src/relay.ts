import { connect, type Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import { isDuplex, type Codec, type Push } from './codec.ts';
import { ErrorCode, PluginError, errnoCode, isPluginError } from './errors.ts';
import type { Endpoint } from './address.ts';

/** Settings shared by every connection of a plugin. */
export interface RelayConfig<R extends RelayRoute = RelayRoute> {
  /** Milliseconds allowed for the outbound TCP connect, DNS included (0 = no limit). */
  connectTimeout: number;
  /** Milliseconds from accept until the first byte goes out (0 = no limit). */
  handshakeTimeout: number;
  /** Milliseconds without traffic either way before closing (0 = never). */
  idleTimeout: number;
  /**
   * Opens the outbound socket, which may still be connecting. Default: {@link connectTo}. A
   * promise (a SOCKS5 dial through a PT, say) holds the connection's bytes and FIN until it
   * resolves; `connectTimeout` covers it, and a rejection fails the connection as a dial failure.
   */
  connect?: (to: Endpoint, route: R) => Socket | Promise<Socket>;
  /** Called once per connection when it is over. */
  onClose: (outcome: RelayOutcome, route: R) => void;
}

/** Where a connection goes; read when the first byte toward that side is ready. */
export interface RelayRoute {
  readonly target: Endpoint;
}

/** The transforms of one connection, by direction. Undefined = plain pipe. */
export interface RelayStreams {
  /** accepted → dialed. */
  inbound: Codec | Duplex | undefined;
  /** dialed → accepted. */
  outbound: Codec | Duplex | undefined;
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

/** A running connection. */
export interface Relay {
  /** Tears the connection down now (both sockets reset). */
  abort(reason?: Error): void;
  /** Writes to the accepted socket directly, ahead of the outbound direction. */
  respond(data: Uint8Array): void;
}

/** Errors that are just a peer going away; logged at debug, not counted as failures. */
const ORDINARY = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'ECONNABORTED']);
export function isOrdinaryClose(error: unknown): boolean {
  const code = errnoCode(error);
  return code !== undefined && ORDINARY.has(code);
}

/** `net.connect` with `allowHalfOpen` and `noDelay`; host names use Node's happy eyeballs. */
export function connectTo(to: Endpoint): Socket {
  return connect({
    host: to.host,
    port: to.port,
    allowHalfOpen: true,
    noDelay: true,
    autoSelectFamily: true,
  });
}

const kConnection = Symbol('sip003.connection');
const kSource = Symbol('sip003.source');
const kSink = Symbol('sip003.sink');
type Tracked = (Socket | Readable) & {
  [kConnection]?: Connection;
  /** The direction this socket feeds. */
  [kSource]?: Direction;
  /** The direction that writes into this socket. */
  [kSink]?: Direction;
};

// Event handlers shared by every connection: they find theirs through the emitter, so a
// connection costs no closures (at thousands of connections, closures and stream objects are
// most of the memory).
function onStreamError(this: Tracked, error: Error): void {
  this[kConnection]?.fail(error);
}
function onSocketClose(this: Tracked): void {
  this[kConnection]?.socketClosed(this as Socket);
}
function onSocketTimeout(this: Tracked): void {
  this[kConnection]?.timedOut(this as Socket);
}
function onSourceData(this: Tracked, chunk: Buffer): void {
  this[kSource]?.data(chunk);
}
function onSourceEnd(this: Tracked): void {
  this[kSource]?.end();
}
function onSinkDrain(this: Tracked): void {
  this[kSink]?.drained();
}
function clearConnectTimeout(this: Socket): void {
  this.setTimeout(0);
}
function onHandshakeDeadline(connection: Connection): void {
  connection.handshakeExpired();
}
function onDialDeadline(connection: Connection): void {
  connection.dialExpired();
}

/**
 * One direction of a connection: reads `source`, runs the codec, writes `sink`. This is what
 * `pipe` plus a Transform would do, in one object with three shared listeners: backpressure (a
 * write that returns false pauses the source until 'drain'), the codec's promise (pauses the
 * source until it settles), and the end (flush, then `end()` the sink: a half-close).
 */
class Direction {
  readonly connection: Connection;
  readonly source: Socket;
  sink: Socket | undefined;
  readonly codec: Codec | undefined;
  /** The codec's `push`, bound once. */
  readonly push: Push;
  /** Inbound only: the first byte out triggers the dial. */
  readonly inbound: boolean;
  pushed = false;
  blocked = false;
  busy = false;
  ending = false;
  /** Inside a synchronous `transform` call (see `write`). */
  batching = false;
  corked = false;
  held: Uint8Array | undefined;
  /** Pushed while an asynchronous connect resolves: written, then ended if `queuedEnd`, on attach. */
  queued: Uint8Array[] | undefined;
  queuedEnd = false;

  constructor(
    connection: Connection,
    source: Socket,
    sink: Socket | undefined,
    codec: Codec | undefined,
    inbound: boolean,
  ) {
    this.connection = connection;
    this.source = source;
    this.sink = sink;
    this.codec = codec;
    this.inbound = inbound;
    this.push = (data) => {
      this.write(data);
    };
    (source as Tracked)[kSource] = this;
    source.on('data', onSourceData);
    source.on('end', onSourceEnd);
    if (sink !== undefined) this.attachSink(sink);
  }

  attachSink(sink: Socket): void {
    this.sink = sink;
    (sink as Tracked)[kSink] = this;
    sink.on('drain', onSinkDrain);
    const queued = this.queued;
    if (queued === undefined) return;
    this.queued = undefined;
    let flowing = true;
    for (const data of queued) flowing = sink.write(data);
    if (this.queuedEnd) sink.end();
    else if (flowing) this.drained(); // else 'drain' resumes the source
  }

  /** Holds bytes (paused source) until an asynchronous connect hands over the socket. */
  queue(data: Uint8Array): void {
    (this.queued ??= []).push(data);
    this.blocked = true;
    this.source.pause();
  }

  data(chunk: Buffer): void {
    const codec = this.codec;
    if (codec === undefined) {
      this.write(chunk);
      return;
    }
    let result: void | Promise<void>;
    this.batching = true;
    try {
      result = codec.transform(chunk, this.push);
    } catch (error) {
      this.batching = false;
      this.held = undefined;
      this.connection.fail(asError(error));
      return;
    }
    this.endBatch();
    if (result !== undefined) this.wait(result);
  }

  /**
   * A codec's push. Within one `transform` call, a single push is written as is, and several
   * (a TLS record header and its payload, say) are corked into one writev: one syscall and one
   * TCP segment instead of one per push. The first push is held back until a second one shows
   * whether corking is worth it.
   */
  write(data: Uint8Array): void {
    if (data.byteLength === 0 || this.connection.state === DONE) return;
    if (!this.pushed) {
      this.pushed = true;
      if (this.inbound) this.connection.dial();
    }
    const sink = this.sink;
    if (sink === undefined) {
      // Still dialing asynchronously; otherwise the dial failed and the connection is torn down.
      if (this.connection.state === RELAYING) this.queue(data);
      return;
    }
    if (this.batching) {
      if (this.held === undefined && !this.corked) {
        this.held = data;
        return;
      }
      if (!this.corked) {
        this.corked = true;
        sink.cork();
        this.send(sink, this.held!);
        this.held = undefined;
      }
    }
    this.send(sink, data);
  }

  send(sink: Socket, data: Uint8Array): void {
    if (!sink.write(data) && !this.blocked) {
      this.blocked = true;
      this.source.pause();
    }
  }

  /** Ends a `transform` call's batch: writes a lone held push, or uncorks. */
  endBatch(): void {
    this.batching = false;
    const held = this.held;
    if (held !== undefined) {
      this.held = undefined;
      if (this.sink !== undefined && this.connection.state !== DONE) this.send(this.sink, held);
    }
    if (this.corked) {
      this.corked = false;
      this.sink?.uncork();
    }
  }

  drained(): void {
    this.blocked = false;
    this.resume();
  }

  /** A codec's promise: hold the source until it settles. */
  wait(result: Promise<void>): void {
    this.busy = true;
    this.source.pause();
    result.then(
      () => {
        this.busy = false;
        if (this.ending) this.end();
        else this.resume();
      },
      (error: unknown) => this.connection.fail(asError(error)),
    );
  }

  resume(): void {
    if (!this.blocked && !this.busy && this.connection.state !== DONE) this.source.resume();
  }

  end(): void {
    this.ending = true;
    if (this.busy) return; // runs again when the pending codec promise settles
    this.ending = false;
    const codec = this.codec;
    if (codec?.flush !== undefined) {
      let result: void | Promise<void>;
      try {
        result = codec.flush(this.push);
      } catch (error) {
        this.connection.fail(asError(error));
        return;
      }
      if (result !== undefined) {
        this.busy = true;
        result.then(
          () => {
            this.busy = false;
            this.close();
          },
          (error: unknown) => this.connection.fail(asError(error)),
        );
        return;
      }
    }
    this.close();
  }

  /** The source ended and the codec is flushed: pass the FIN on. */
  close(): void {
    if (this.connection.state === DONE) return;
    if (this.sink !== undefined) this.sink.end();
    else if (this.connection.state === RELAYING) this.queuedEnd = true;
    else this.connection.endedBeforeData();
  }

  expire(): boolean {
    if (this.codec?.expire !== undefined && !this.pushed) {
      this.codec.expire(this.push);
    }
    return this.pushed;
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** Accepted; nothing forwarded yet. */
const WAITING = 0;
/** The outbound socket exists (connecting or connected). */
const RELAYING = 1;
const DONE = 2;
type State = typeof WAITING | typeof RELAYING | typeof DONE;

/**
 * One relayed connection. The outbound socket is dialed when the first byte toward it is ready
 * (simple-obfs does the same, and shadowsocks-rust's connect probes never reach upstream); writes
 * queue on it while it connects. With `allowHalfOpen` on both sockets a FIN travels alone and the
 * other direction keeps flowing: exact half-close. The connection is over when both sockets have
 * closed; any error resets both, so neither end mistakes a broken stream for a clean end.
 */
class Connection implements Relay {
  readonly accepted: Socket;
  dialed: Socket | undefined;
  readonly streams: RelayStreams;
  readonly route: RelayRoute;
  readonly config: RelayConfig;
  /** accepted → dialed, when the inbound side is a codec or a plain pipe. */
  inbound: Direction | undefined;
  /** A ready-made Duplex used for the inbound side (escape hatch). */
  inboundStream: Duplex | undefined;
  state: State = WAITING;
  failure: Error | undefined;
  timer: NodeJS.Timeout | undefined;

  constructor(accepted: Socket, streams: RelayStreams, route: RelayRoute, config: RelayConfig) {
    this.accepted = accepted;
    this.streams = streams;
    this.route = route;
    this.config = config;
    track(accepted, this);
    accepted.on('close', onSocketClose);
    if (config.handshakeTimeout > 0)
      this.timer = setTimeout(onHandshakeDeadline, config.handshakeTimeout, this);
    const source = streams.inbound;
    if (source !== undefined && isDuplex(source)) {
      // A ready-made stream: its first output cannot be seen without consuming it, so dial now.
      this.inboundStream = track(source, this);
      accepted.pipe(source);
      this.dial();
    } else {
      this.inbound = new Direction(this, accepted, undefined, source, true);
    }
  }

  /** The inbound side ended before anything was forwarded (a connect probe): close quietly. */
  endedBeforeData(): void {
    if (this.state === WAITING) this.accepted.end();
  }

  dial(): void {
    if (this.state !== WAITING) return;
    this.state = RELAYING;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const { config } = this;
    let dialed: Socket | Promise<Socket>;
    try {
      dialed = (config.connect ?? connectTo)(this.route.target, this.route);
    } catch (error) {
      this.fail(asError(error));
      return;
    }
    if (!('then' in dialed)) {
      this.attach(dialed);
      return;
    }
    if (config.connectTimeout > 0)
      this.timer = setTimeout(onDialDeadline, config.connectTimeout, this);
    dialed.then(
      (socket) => {
        if (this.state === DONE) socket.destroy();
        else this.attach(socket);
      },
      (error: unknown) => {
        const cause = asError(error);
        this.fail(
          isPluginError(cause)
            ? cause
            : new PluginError(ErrorCode.DIAL_FAILED, cause.message, { cause }),
        );
      },
    );
  }

  /** The outbound socket exists (it may still be connecting): start both directions. */
  attach(dialed: Socket): void {
    const { accepted, config } = this;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.dialed = track(dialed, this);
    dialed.on('close', onSocketClose);
    dialed.on('timeout', onSocketTimeout);
    // An asynchronous connect may hand over a socket that is already connected.
    if (config.connectTimeout > 0 && dialed.connecting) {
      dialed.setTimeout(config.connectTimeout);
      dialed.once('connect', clearConnectTimeout);
    }
    if (config.idleTimeout > 0) {
      // Reads and writes both refresh a socket's timer, and every byte relayed either way is
      // read from or written to `accepted`, so one timer covers both directions.
      accepted.setTimeout(config.idleTimeout);
      accepted.on('timeout', onSocketTimeout);
    }
    if (this.inbound !== undefined) this.inbound.attachSink(dialed);
    else this.inboundStream?.pipe(dialed);
    const out = this.streams.outbound;
    if (out !== undefined && isDuplex(out)) {
      dialed.pipe(track(out, this)).pipe(accepted);
    } else {
      new Direction(this, dialed, accepted, out, false);
    }
  }

  dialExpired(): void {
    this.timer = undefined;
    if (this.dialed === undefined)
      this.fail(
        new PluginError(
          ErrorCode.DIAL_FAILED,
          `no connection within ${this.config.connectTimeout / 1000} s (ETIMEDOUT)`,
        ),
      );
  }

  handshakeExpired(): void {
    this.timer = undefined;
    if (this.state !== WAITING) return;
    // Give the inbound codec the chance to route the stalled connection (e.g. to failover).
    try {
      if (this.inbound?.expire() === true) return;
    } catch (error) {
      this.fail(asError(error));
      return;
    }
    this.fail(
      new PluginError(
        ErrorCode.TIMEOUT,
        `no handshake within ${this.config.handshakeTimeout / 1000} s`,
      ),
    );
  }

  timedOut(socket: Socket): void {
    if (this.state === DONE) return;
    if (socket === this.dialed) {
      this.fail(
        new PluginError(
          ErrorCode.DIAL_FAILED,
          `no connection within ${this.config.connectTimeout / 1000} s (ETIMEDOUT)`,
        ),
      );
    } else {
      this.fail(new PluginError(ErrorCode.TIMEOUT, `idle for ${this.config.idleTimeout / 1000} s`));
    }
  }

  socketClosed(socket: Socket): void {
    if (this.state === DONE) return;
    // With allowHalfOpen a socket closes by itself only once both directions ended; closing
    // any other way (destroyed from outside, reset) cuts the connection.
    if (!(socket.readableEnded && socket.writableFinished)) {
      this.fail(
        Object.assign(new Error('socket closed before both directions ended'), {
          code: 'ERR_STREAM_PREMATURE_CLOSE',
        }),
      );
      return;
    }
    const other = socket === this.accepted ? this.dialed : this.accepted;
    if (other === undefined || other.closed) this.finish();
  }

  fail(error: Error): void {
    if (this.state === DONE) return;
    this.failure = error;
    reset(this.accepted);
    if (this.dialed !== undefined) reset(this.dialed);
    this.finish();
  }

  abort(reason?: Error): void {
    this.fail(reason ?? new PluginError(ErrorCode.TIMEOUT, 'connection aborted'));
  }

  respond(data: Uint8Array): void {
    if (!this.accepted.destroyed) this.accepted.write(data);
  }

  finish(): void {
    if (this.state === DONE) return;
    this.state = DONE;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const { accepted, dialed } = this;
    accepted.destroy();
    dialed?.destroy();
    this.inboundStream?.destroy();
    this.config.onClose(
      {
        error: this.failure,
        bytesIn: accepted.bytesRead,
        bytesOut: accepted.bytesWritten,
        dialed: dialed !== undefined,
      },
      this.route,
    );
  }
}

/** Marks an emitter as part of `connection` and gives it the shared error handler. */
function track<T extends Socket | Readable>(emitter: T, connection: Connection): T {
  (emitter as Tracked)[kConnection] = connection;
  emitter.on('error', onStreamError);
  return emitter;
}

function reset(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    // Not a TCP handle (a test double): finish() destroys it plainly.
  }
}

/**
 * Relays one accepted connection through `streams` to `route.target` (read when the first byte
 * toward it is ready, so a codec can still `redirect`). Never throws: `config.onClose` says how it
 * ended.
 */
export function relay<R extends RelayRoute>(
  accepted: Socket,
  streams: RelayStreams,
  route: R,
  config: RelayConfig<R>,
): Relay {
  // The connection hands `onClose` back the very route it was given, so R is preserved.
  return new Connection(accepted, streams, route, config as unknown as RelayConfig);
}
