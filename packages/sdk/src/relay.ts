import { readSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { isDuplex, type Codec, type Push } from './codec.ts';
import { ErrorCode, PluginError, errnoCode, isPluginError } from './errors.ts';
import { formatEndpoint, type Endpoint } from './address.ts';

/** Settings shared by every connection of a plugin. */
export interface RelayConfig<R extends RelayRoute = RelayRoute> {
  /** Milliseconds allowed for the outbound TCP connect, DNS included (0 = no limit). */
  connectTimeout: number;
  /** Milliseconds from accept until the first byte goes out (0 = no limit). */
  handshakeTimeout: number;
  /**
   * Milliseconds without progress before closing (0 = never): no byte read on either socket and
   * no write completed (or partly written) on either. Counted from the dial in every state,
   * half-closed included, until both sockets have closed.
   */
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
  /** Tears the connection down now (both sockets reset, both codecs' streams destroyed). */
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

/**
 * Bytes of a codec push below which it is copied into the call's coalesced write rather than
 * written as its own entry: copying a few KiB costs less than a write entry, and a peer that
 * sends 1-byte TLS records must not turn every record into one (issue 9).
 */
const COALESCE_BELOW = 4096;
/**
 * Writes one direction may have queued on its sink before its source pauses, whatever their
 * size: the sink's high-water mark counts bytes only, so 1-byte writes would pile up by the
 * thousand before it said stop. With the byte mark this bounds a direction's memory.
 */
const MAX_QUEUED_WRITES = 64;
/**
 * A codec call that pushed more pieces than this did a lot of work for one read (a peer sending
 * 6-byte TLS records makes ~10,000 per 64 KiB): the direction then sits out one turn of the event
 * loop. libuv otherwise reads a busy socket up to 32 times per poll, so one attacker could hold
 * the loop for hundreds of milliseconds while every other connection waits. Ordinary traffic
 * pushes a handful of pieces per read and never yields.
 */
const YIELD_AFTER_PUSHES = 64;

const kConnection = Symbol('sip003.connection');
const kSource = Symbol('sip003.source');
type Tracked<T extends Duplex = Duplex> = T & {
  [kConnection]?: Connection;
  /** The direction this stream feeds. */
  [kSource]?: Direction;
};

// Event handlers shared by every connection: they find theirs through the emitter, so a
// connection costs no closures (at thousands of connections, closures and stream objects are
// most of the memory).
function onStreamError(this: Tracked, error: Error): void {
  this[kConnection]?.streamFailed(this, error);
}
function onSocketClose(this: Tracked<Socket>): void {
  this[kConnection]?.socketClosed(this);
}
function onDialConnected(this: Tracked): void {
  this[kConnection]?.connected();
}
function onDialTimeout(this: Tracked): void {
  this[kConnection]?.dialTimedOut();
}
function onSourceData(this: Tracked, chunk: Buffer): void {
  this[kSource]?.data(chunk);
}
function onSourceEnd(this: Tracked): void {
  this[kSource]?.sourceEnded();
}
function onYieldEnd(direction: Direction): void {
  direction.release(YIELDING);
}
function onDeadline(connection: Connection): void {
  connection.deadline();
}

/** Why a direction's source is paused; it reads only while none is set. */
const SINK_FULL = 1;
const CODEC_PENDING = 2;
const DIAL_PENDING = 4;
const YIELDING = 8;

// Where a direction is between its first byte and the FIN it passes on.
/** The source may still send. */
const OPEN = 0;
/** The source ended while a codec promise was pending: flush once it settles. */
const ENDING = 1;
/** The codec's flush returned a promise: end the sink once it settles. */
const FLUSHING = 2;
/** The FIN was passed on (`sink.end()`), or the direction ended before anything was sent. */
const ENDED = 3;
type Phase = typeof OPEN | typeof ENDING | typeof FLUSHING | typeof ENDED;

/**
 * One direction of a connection: reads `source`, runs the codec, writes `sink`. This is what
 * `pipe` plus a Transform would do, in one object with shared listeners. Its whole state:
 *
 * | phase    | source                     | on                           | goes to            |
 * | -------- | -------------------------- | ---------------------------- | ------------------ |
 * | OPEN     | reads while `holds` is 0   | 'data': transform, write     | OPEN               |
 * | OPEN     |                            | 'end' after a FIN            | ENDING or ENDED    |
 * | OPEN     |                            | 'end' after an RST           | (connection fails) |
 * | ENDING   | ended                      | codec promise settles: flush | FLUSHING or ENDED  |
 * | FLUSHING | ended                      | flush promise settles        | ENDED: sink.end()  |
 * | ENDED    | ended                      | nothing                      |                    |
 *
 * `holds` says why an open source is paused: SINK_FULL (the sink holds its high-water mark of
 * bytes or MAX_QUEUED_WRITES writes; cleared by the write callbacks) and CODEC_PENDING (the
 * codec returned a promise; cleared when it settles) and DIAL_PENDING (an asynchronous `connect`
 * has not handed over the socket yet: what the codec pushed waits in `parked`, a FIN waits in
 * the ENDED phase; both go out on `attach`) and YIELDING (a codec call pushed more than
 * YIELD_AFTER_PUSHES pieces: the source sits out one turn of the event loop so that other
 * connections are served). `batch` is set only inside a synchronous
 * codec call: its pushes are collected and written when the call returns, small ones coalesced
 * into one buffer, so one input chunk makes a bounded number of writes whatever it contains.
 * A failed connection (state DONE) overrides everything: every method returns at once.
 */
class Direction {
  readonly connection: Connection;
  readonly source: Duplex;
  /** Undefined until the dial, for the direction toward the dialed socket. */
  sink: Duplex | undefined;
  readonly codec: Codec | undefined;
  /** The codec's `push`, bound once. */
  readonly push: Push;
  /** The sink's write callback, bound once: one queued write is done. */
  readonly written: () => void;
  phase: Phase = OPEN;
  holds = 0;
  /** Writes given to the sink and not yet done. */
  queued = 0;
  /** Pushed while an asynchronous `connect` is pending (the source is held meanwhile). */
  parked: Uint8Array[] | undefined;
  /** The pushes of the codec call in progress; undefined outside one. */
  batch: Uint8Array[] | undefined;
  batchBytes = 0;

  constructor(
    connection: Connection,
    source: Duplex,
    sink: Duplex | undefined,
    codec: Codec | undefined,
  ) {
    this.connection = connection;
    this.source = source;
    this.sink = sink;
    this.codec = codec;
    this.push = (data) => {
      this.write(data);
    };
    this.written = () => {
      this.queued--;
      this.connection.touch();
      const sink = this.sink;
      if (
        (this.holds & SINK_FULL) !== 0 &&
        sink !== undefined &&
        this.queued < MAX_QUEUED_WRITES &&
        sink.writableLength < sink.writableHighWaterMark
      ) {
        this.release(SINK_FULL);
      }
    };
    (source as Tracked)[kSource] = this;
    source.on('data', onSourceData);
    source.on('end', onSourceEnd);
  }

  data(chunk: Buffer): void {
    this.connection.touch();
    const codec = this.codec;
    if (codec === undefined) {
      this.write(chunk);
      return;
    }
    const result = this.call((push) => codec.transform(chunk, push));
    if (result !== undefined) this.await(result);
  }

  /** Runs one codec call with its pushes batched. Undefined also when the call threw. */
  call(fn: (push: Push) => void | Promise<void>): Promise<void> | undefined {
    this.batch = [];
    this.batchBytes = 0;
    let result: void | Promise<void>;
    try {
      result = fn(this.push);
    } catch (error) {
      this.batch = undefined;
      this.connection.fail(codecFailure(error));
      return undefined;
    }
    const pieces = this.batch;
    this.batch = undefined;
    if (pieces.length > 0) this.writeBatch(pieces, this.batchBytes);
    if (pieces.length > YIELD_AFTER_PUSHES && (this.holds & YIELDING) === 0) {
      this.hold(YIELDING);
      setImmediate(onYieldEnd, this);
    }
    return result ?? undefined;
  }

  /** A codec's push: collected inside a codec call, written at once outside one. */
  write(data: Uint8Array): void {
    if (data.byteLength === 0 || this.connection.state === DONE) return;
    if (this.batch !== undefined) {
      this.batch.push(data);
      this.batchBytes += data.byteLength;
    } else {
      const sink = this.openSink();
      if (sink !== undefined) this.send(sink, data);
      else this.park([data]);
    }
  }

  /** Holds pushes while an asynchronous `connect` is pending; drops them once the connection failed. */
  park(pieces: Uint8Array[]): void {
    if (this.connection.state !== DIALING) return;
    (this.parked ??= []).push(...pieces);
    this.hold(DIAL_PENDING);
  }

  /** The dialed socket arrived: write what was parked, pass on a FIN that waited, read again. */
  attach(sink: Duplex): void {
    this.sink = sink;
    const parked = this.parked;
    this.parked = undefined;
    if (parked !== undefined) {
      let bytes = 0;
      for (const piece of parked) bytes += piece.byteLength;
      this.writeBatch(parked, bytes);
    }
    if (this.phase === ENDED) sink.end();
    this.release(DIAL_PENDING);
  }

  /** The sink, dialing it first if this is the first byte toward the dialed side. */
  openSink(): Duplex | undefined {
    if (this.sink === undefined) this.connection.dial();
    return this.connection.state === DONE ? undefined : this.sink;
  }

  /**
   * Writes one codec call's pushes: a lone push as it is; otherwise runs of small pushes copied
   * into one buffer each and large pushes as they are (never copied), corked into one writev.
   */
  writeBatch(pieces: Uint8Array[], bytes: number): void {
    const sink = this.openSink();
    if (sink === undefined) {
      this.park(pieces);
      return;
    }
    if (pieces.length === 1) {
      this.send(sink, pieces[0]!);
      return;
    }
    if (bytes < COALESCE_BELOW) {
      this.send(sink, concat(pieces, 0, pieces.length, bytes));
      return;
    }
    sink.cork();
    let from = 0;
    let runBytes = 0;
    for (let i = 0; i < pieces.length; i++) {
      const size = pieces[i]!.byteLength;
      if (size < COALESCE_BELOW) {
        runBytes += size;
        continue;
      }
      if (i > from) this.send(sink, concat(pieces, from, i, runBytes));
      this.send(sink, pieces[i]!);
      from = i + 1;
      runBytes = 0;
    }
    if (pieces.length > from) this.send(sink, concat(pieces, from, pieces.length, runBytes));
    sink.uncork();
  }

  send(sink: Duplex, data: Uint8Array): void {
    this.queued++;
    if (!sink.write(data, this.written) || this.queued >= MAX_QUEUED_WRITES) this.hold(SINK_FULL);
  }

  hold(reason: number): void {
    this.holds |= reason;
    this.source.pause();
  }

  release(reason: number): void {
    this.holds &= ~reason;
    if (this.holds === 0 && this.phase === OPEN && this.connection.state !== DONE) {
      this.source.resume();
    }
  }

  /** A codec's promise: hold the source until it settles. */
  await(result: Promise<void>): void {
    this.hold(CODEC_PENDING);
    result.then(
      () => this.settled(),
      (error: unknown) => this.connection.fail(codecFailure(error)),
    );
  }

  settled(): void {
    if (this.connection.state === DONE) return;
    this.holds &= ~CODEC_PENDING;
    if (this.phase === OPEN) this.release(0);
    else if (this.phase === ENDING) this.flush();
    else if (this.phase === FLUSHING) this.passEnd();
  }

  sourceEnded(): void {
    if (this.connection.state === DONE) return;
    if (this.source instanceof Socket && endedByReset(this.source)) {
      this.connection.fail(
        Object.assign(new Error('connection reset by peer'), { code: 'ECONNRESET' }),
      );
      return;
    }
    this.phase = ENDING;
    if ((this.holds & CODEC_PENDING) === 0) this.flush();
  }

  flush(): void {
    const codec = this.codec;
    if (codec?.flush !== undefined) {
      const result = this.call((push) => codec.flush!(push));
      if (this.connection.state === DONE) return;
      if (result !== undefined) {
        this.phase = FLUSHING;
        this.await(result);
        return;
      }
    }
    this.passEnd();
  }

  /** The source ended and the codec is flushed: pass the FIN on. */
  passEnd(): void {
    this.phase = ENDED;
    if (this.sink !== undefined) this.sink.end();
    else this.connection.endedBeforeData(); // or an asynchronous dial is pending: `attach` ends
  }

  /** The handshake deadline passed before anything was sent: let the codec still route it. */
  expire(): void {
    const codec = this.codec;
    if (codec?.expire !== undefined) void this.call((push) => codec.expire!(push));
  }
}

/** `pieces[from..to)`, `bytes` long, copied into one buffer of its own (not the shared pool). */
function concat(pieces: Uint8Array[], from: number, to: number, bytes: number): Uint8Array {
  if (to - from === 1) return pieces[from]!;
  const out = Buffer.allocUnsafeSlow(bytes);
  let offset = 0;
  for (let i = from; i < to; i++) {
    out.set(pieces[i]!, offset);
    offset += pieces[i]!.byteLength;
  }
  return out;
}

const PROBE = Buffer.alloc(1);

/**
 * Whether a socket whose read side just ended was reset rather than closed. libuv reports an RST
 * that comes with the last data as a plain end (its POLLHUP short cut skips the read that would
 * have returned ECONNRESET), so ask the kernel with one more read(2): 0 after a FIN, an error
 * after an RST (the error is still pending, as nothing read it). `getpeername` cannot tell them
 * apart once our own FIN is out: a FIN then leaves the socket closed too (ENOTCONN).
 */
function endedByReset(socket: Socket): boolean {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return false; // no descriptor (Windows): trust the end
  try {
    return readSync(fd, PROBE) !== 0;
  } catch {
    return true;
  }
}

/** Bytes libuv still has to write on a socket (shrinks as a slow reader takes them). */
function unwritten(socket: Socket | undefined): number {
  return (
    (socket as unknown as { _handle?: { writeQueueSize?: number } })?._handle?.writeQueueSize ?? 0
  );
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown }).then === 'function';
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** Errors that are bugs in the plugin, not something a peer or the network did. */
const bugs = new WeakSet<Error>();

/**
 * Whether a connection failed on a bug in the plugin: its codec threw (or rejected with) something
 * other than a PluginError, or its Duplex failed with a JavaScript programming error (TypeError,
 * RangeError, ...). A peer's garbage is a ProtocolError, and a stream's own failures (zlib's
 * Z_DATA_ERROR, a socket's ECONNRESET) are plain Errors with a code: neither is a bug.
 */
export function isPluginBug(error: unknown): boolean {
  return error instanceof Error && bugs.has(error);
}

/** What a codec call threw or rejected with; anything but a PluginError is a bug. */
function codecFailure(thrown: unknown): Error {
  const error = asError(thrown);
  if (!isPluginError(error)) bugs.add(error);
  return error;
}

const PROGRAMMING_ERRORS = [
  TypeError,
  RangeError,
  ReferenceError,
  SyntaxError,
  URIError,
  EvalError,
];

/** What a Duplex codec failed with: a bug when it is a JavaScript programming error. */
function duplexFailure(error: Error): Error {
  if (!isPluginError(error) && PROGRAMMING_ERRORS.some((type) => error instanceof type)) {
    bugs.add(error);
  }
  return error;
}

/** Accepted; nothing forwarded yet. The timer is the handshake deadline. */
const WAITING = 0;
/** The outbound socket is connecting. The timer is the idle deadline; errors are dial failures. */
const DIALING = 1;
/** Both sockets connected. The timer is the idle deadline. */
const RELAYING = 2;
/** Torn down; `onClose` was called. */
const DONE = 3;
type State = typeof WAITING | typeof DIALING | typeof RELAYING | typeof DONE;

/**
 * One relayed connection. The outbound socket is dialed when the first byte toward it is ready
 * (simple-obfs does the same, and shadowsocks-rust's connect probes never reach upstream); writes
 * queue on it while it connects. With `allowHalfOpen` on both sockets a FIN travels alone and the
 * other direction keeps flowing: exact half-close. The connection is over when both sockets have
 * closed; any error or reset resets both, so neither end mistakes a broken stream for a clean
 * end, and destroys both codecs' streams.
 */
class Connection implements Relay {
  readonly accepted: Socket;
  dialed: Socket | undefined;
  readonly streams: RelayStreams;
  readonly route: RelayRoute;
  readonly config: RelayConfig;
  /** Reads the accepted socket (its codec is the one asked to `expire`). */
  readonly intake: Direction;
  /** Writes the dialed socket: `intake`, or the reader of an inbound Duplex. */
  readonly toDialed: Direction;
  /** Codecs given as ready-made Duplex streams, destroyed with the connection. */
  inboundStream: Duplex | undefined;
  outboundStream: Duplex | undefined;
  state: State = WAITING;
  failure: Error | undefined;
  timer: NodeJS.Timeout | undefined;
  /** `performance.now()` of the last byte read or write completed, either socket. */
  lastActive = 0;
  /** Both sockets' libuv write queues (bytes) at the last idle check. */
  lastUnwritten = 0;

  constructor(accepted: Socket, streams: RelayStreams, route: RelayRoute, config: RelayConfig) {
    this.accepted = accepted;
    this.streams = streams;
    this.route = route;
    this.config = config;
    track(accepted, this);
    accepted.on('close', onSocketClose);
    if (config.handshakeTimeout > 0) this.arm(config.handshakeTimeout);
    const codec = streams.inbound;
    if (codec !== undefined && isDuplex(codec)) {
      // A ready-made stream: its first output cannot be seen without consuming it, so dial now.
      const stream = track(codec, this);
      this.inboundStream = stream;
      this.intake = new Direction(this, accepted, stream, undefined);
      this.toDialed = new Direction(this, stream, undefined, undefined);
      this.dial();
    } else {
      this.intake = this.toDialed = new Direction(this, accepted, undefined, codec);
    }
  }

  arm(ms: number): void {
    this.timer = setTimeout(onDeadline, ms, this);
  }

  touch(): void {
    this.lastActive = performance.now();
  }

  /** The inbound side ended before anything was forwarded (a connect probe): close quietly. */
  endedBeforeData(): void {
    if (this.state === WAITING) this.accepted.end();
  }

  dial(): void {
    if (this.state !== WAITING) return;
    this.state = DIALING;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const { config, route } = this;
    let dialed: Socket | Promise<Socket>;
    try {
      dialed = (config.connect ?? connectTo)(route.target, route);
    } catch (error) {
      this.fail(dialFailed(route.target, asError(error)));
      return;
    }
    if (!isPromise(dialed)) {
      this.attach(dialed);
      return;
    }
    // An asynchronous connect: the timer is the connect deadline until the socket arrives.
    if (config.connectTimeout > 0) this.arm(config.connectTimeout);
    dialed.then(
      (socket) => {
        if (this.state === DONE) socket.destroy();
        else this.attach(socket);
      },
      (error: unknown) => {
        const cause = asError(error);
        this.fail(isPluginError(cause) ? cause : dialFailed(route.target, cause));
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
    if (dialed.connecting) {
      dialed.once('connect', onDialConnected);
      if (config.connectTimeout > 0) {
        dialed.setTimeout(config.connectTimeout);
        dialed.on('timeout', onDialTimeout);
      }
    } else {
      this.state = RELAYING;
    }
    if (config.idleTimeout > 0) {
      this.touch();
      this.arm(config.idleTimeout);
    }
    this.toDialed.attach(dialed);
    const out = this.streams.outbound;
    if (out !== undefined && isDuplex(out)) {
      const stream = track(out, this);
      this.outboundStream = stream;
      new Direction(this, dialed, stream, undefined);
      new Direction(this, stream, accepted, undefined);
    } else {
      new Direction(this, dialed, accepted, out);
    }
  }

  connected(): void {
    if (this.state !== DIALING) return;
    this.state = RELAYING;
    this.dialed?.setTimeout(0);
  }

  dialTimedOut(): void {
    if (this.state !== DIALING) return;
    const seconds = this.config.connectTimeout / 1000;
    this.fail(
      dialFailed(
        this.route.target,
        Object.assign(new Error(`no connection within ${seconds} s`), { code: 'ETIMEDOUT' }),
      ),
    );
  }

  /**
   * The timer: the handshake deadline while WAITING, the connect deadline while an asynchronous
   * `connect` is pending, the idle deadline after.
   */
  deadline(): void {
    this.timer = undefined;
    if (this.state === WAITING) this.handshakeExpired();
    else if (this.state === DIALING && this.dialed === undefined) this.dialTimedOut();
    else if (this.state !== DONE) this.idleCheck();
  }

  handshakeExpired(): void {
    // Give the inbound codec the chance to route the stalled connection (e.g. to failover).
    this.intake.expire();
    if (this.state !== WAITING) return;
    this.fail(
      new PluginError(
        ErrorCode.TIMEOUT,
        `no handshake within ${this.config.handshakeTimeout / 1000} s`,
      ),
    );
  }

  /**
   * Fails the connection once nothing moved for `idleTimeout`: no read, no completed write, and
   * no partial write either (libuv's write queue shrinking is a slow reader taking bytes).
   */
  idleCheck(): void {
    const idle = this.config.idleTimeout;
    const quiet = performance.now() - this.lastActive;
    // Partial writes complete nothing, so compare libuv's write queues with the last check.
    const unwrittenNow = unwritten(this.accepted) + unwritten(this.dialed);
    const wrote = unwrittenNow !== this.lastUnwritten;
    this.lastUnwritten = unwrittenNow;
    if (quiet < idle) {
      this.arm(Math.ceil(idle - quiet));
    } else if (wrote) {
      this.touch();
      this.arm(idle);
    } else {
      this.fail(new PluginError(ErrorCode.TIMEOUT, `idle for ${idle / 1000} s`));
    }
  }

  streamFailed(stream: Duplex, error: Error): void {
    if (this.state === DIALING && stream === this.dialed) {
      this.fail(dialFailed(this.route.target, error));
    } else if (stream === this.inboundStream || stream === this.outboundStream) {
      this.fail(duplexFailure(error));
    } else {
      this.fail(error);
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
    resetSocket(this.accepted);
    if (this.dialed !== undefined) resetSocket(this.dialed);
    this.finish();
  }

  abort(reason?: Error): void {
    this.fail(reason ?? new PluginError(ErrorCode.TIMEOUT, 'connection aborted'));
  }

  respond(data: Uint8Array): void {
    if (!this.accepted.destroyed) this.accepted.write(data);
  }

  /** Every teardown ends here: sockets and both codecs' streams released, `onClose` called. */
  finish(): void {
    if (this.state === DONE) return;
    this.state = DONE;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const { accepted, dialed } = this;
    // A socket whose reset waits for its FIN to go out (see `resetSocket`) is destroyed by the reset.
    if (!resetPending(accepted)) accepted.destroy();
    if (dialed !== undefined && !resetPending(dialed)) dialed.destroy();
    this.inboundStream?.destroy();
    this.outboundStream?.destroy();
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

/** The dial error raised for every failed connect: refused, unreachable, DNS, timeout. */
function dialFailed(target: Endpoint, cause: Error): PluginError {
  const reason = errnoCode(cause) ?? cause.message;
  return new PluginError(
    ErrorCode.DIAL_FAILED,
    `cannot connect to ${formatEndpoint(target)}: ${cause.message.includes(reason) ? cause.message : `${cause.message} (${reason})`}`,
    { cause },
  );
}

/** Marks an emitter as part of `connection` and gives it the shared error handler. */
function track<T extends Duplex>(emitter: T, connection: Connection): T {
  (emitter as Tracked)[kConnection] = connection;
  emitter.on('error', onStreamError);
  return emitter;
}

const kResetPending = Symbol('sip003.resetPending');

/**
 * Sends an RST, also on a half-closed socket. libuv refuses to reset a socket while its FIN is
 * being sent (EINVAL, and the handle would stay open), so a socket in that instant is reset as
 * soon as the FIN is out; before it, and after, a reset is a reset.
 */
export function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting) {
    socket.destroy(); // no peer has seen this socket yet
    return;
  }
  if (socket.writableEnded && !socket.writableFinished && socket.writableLength === 0) {
    (socket as Socket & { [kResetPending]?: true })[kResetPending] = true;
    socket.once('finish', resetNow);
    return;
  }
  resetNow.call(socket);
}

function resetNow(this: Socket): void {
  try {
    this.resetAndDestroy();
  } catch {
    this.destroy(); // not a TCP handle (a test double)
  }
}

function resetPending(socket: Socket): boolean {
  return (socket as Socket & { [kResetPending]?: true })[kResetPending] === true;
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
