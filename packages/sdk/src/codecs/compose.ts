import type { Duplex } from 'node:stream';
import { isDuplex, type Codec, type Push } from '../codec.ts';

/**
 * Chains codecs and Duplex streams into one codec: bytes go through `stages` in order, each
 * stage's output is the next one's input. This is SIP003's plugin over plugin in one process: a
 * session that compresses then frames is `encode: compose(deflate, frames.encode)` and
 * `decode: compose(frames.decode, inflate)` (decode runs the stages in the reverse order).
 *
 * Order is kept per stage; a stage that returns a promise holds its input until it settles, and
 * the composed `transform` returns a promise until every stage is idle, so the relay pauses the
 * source meanwhile (backpressure). A Duplex stage counts as idle once its write is consumed (its
 * write callback); its output flows on as it comes, and the Duplex is paused while the next stage
 * is busy. `flush` ends the stages one after the other: each stage's flush (or a Duplex's end)
 * runs after everything before it has gone through it. A stage's error fails the composed codec
 * (thrown, or the returned promise rejects); an error raised while no call is pending (a stage
 * handling a Duplex's late output) is thrown by the next call. A Duplex that was given no input
 * is destroyed rather than ended, so an empty connection stays empty. Codecs only, all
 * synchronous: everything stays synchronous, with no promise per chunk.
 */
export function compose(...stages: (Codec | Duplex)[]): Codec {
  if (stages.length === 0) return { transform: (chunk, push) => push(chunk) };
  if (stages.length === 1 && !isDuplex(stages[0]!)) return stages[0]!;
  return new Chain(stages);
}

/** The composed codec: links in order, and the push of the last call for the final output. */
class Chain implements Codec {
  readonly links: Link[];
  out: Push = () => undefined;
  failure: Error | undefined;
  /** Waiters of `until`, woken whenever a link goes idle or the chain fails. */
  waiters: (() => void)[] = [];

  constructor(stages: (Codec | Duplex)[]) {
    // Built from the last stage back, so each link knows the next one.
    this.links = [];
    for (let i = stages.length - 1; i >= 0; i--) {
      const next = this.links[0];
      const emit: Push = next === undefined ? (data) => this.out(data) : (data) => next.feed(data);
      const stage = stages[i]!;
      this.links.unshift(
        isDuplex(stage)
          ? new DuplexLink(this, stage, emit, next)
          : new CodecLink(this, stage, emit),
      );
    }
  }

  transform(chunk: Buffer, push: Push): void | Promise<void> {
    this.out = push;
    this.throwIfFailed();
    this.links[0]!.feed(chunk);
    this.throwIfFailed();
    if (!this.idle()) return this.until(() => this.idle());
  }

  flush(push: Push): void | Promise<void> {
    this.out = push;
    this.throwIfFailed();
    return this.endFrom(0);
  }

  /** Ends links `i` onward, each once all its input is in; synchronous while nothing waits. */
  endFrom(i: number): void | Promise<void> {
    for (; i < this.links.length; i++) {
      const link = this.links[i]!;
      if (!link.idle()) {
        const from = i;
        return this.until(() => link.idle()).then(() => this.endFrom(from));
      }
      const ended = link.end();
      this.throwIfFailed();
      if (ended !== undefined) {
        const from = i + 1;
        return ended.then(() => this.endFrom(from));
      }
    }
    if (!this.idle()) return this.until(() => this.idle());
  }

  idle(): boolean {
    return this.links.every((link) => link.idle());
  }

  /** Resolves once `ready()` holds; rejects as soon as the chain fails. */
  until(ready: () => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.failure !== undefined) reject(this.failure);
        else if (ready()) resolve();
        else this.waiters.push(check);
      };
      check();
    });
  }

  wake(): void {
    if (this.waiters.length === 0) return; // the synchronous path: nobody waits
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  fail(error: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = error instanceof Error ? error : new Error(String(error));
    for (const link of this.links) link.destroy(this.failure);
    this.wake();
  }

  throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

/** One stage: takes input in order through `feed`. */
interface Link {
  /** A Duplex stage before this one, whose output is paused while this one is busy. */
  upstream: DuplexLink | undefined;
  feed(data: Uint8Array): void;
  idle(): boolean;
  /** Ends the stage's input; a promise when its last output comes later. */
  end(): void | Promise<void>;
  destroy(error: Error): void;
}

/** A codec stage: input queues while a transform promise is pending. */
class CodecLink implements Link {
  readonly chain: Chain;
  readonly codec: Codec;
  readonly emit: Push;
  readonly queue: Buffer[] = [];
  busy = false;
  upstream: DuplexLink | undefined;

  constructor(chain: Chain, codec: Codec, emit: Push) {
    this.chain = chain;
    this.codec = codec;
    this.emit = emit;
  }

  idle(): boolean {
    return !this.busy && this.queue.length === 0;
  }

  feed(data: Uint8Array): void {
    if (data.byteLength === 0 || this.chain.failure !== undefined) return;
    const chunk = Buffer.isBuffer(data)
      ? data
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (!this.idle()) {
      this.queue.push(chunk);
      return;
    }
    this.run(chunk);
    if (!this.busy) this.settled();
  }

  /** Runs one transform; a returned promise makes the link busy until it settles. */
  run(chunk: Buffer): void {
    let result: void | Promise<void>;
    try {
      result = this.codec.transform(chunk, this.emit);
    } catch (error) {
      this.chain.fail(error);
      return;
    }
    if (result === undefined) return;
    this.busy = true;
    result.then(
      () => {
        this.busy = false;
        this.drain();
      },
      (error: unknown) => this.chain.fail(error),
    );
  }

  /** Runs what queued while a promise was pending (a loop, not recursion: queues can be long). */
  drain(): void {
    while (!this.busy && this.chain.failure === undefined) {
      const next = this.queue.shift();
      if (next === undefined) break;
      this.run(next);
    }
    if (!this.busy) this.settled();
  }

  settled(): void {
    this.upstream?.resumeOutput();
    this.chain.wake();
  }

  end(): void | Promise<void> {
    return this.codec.flush?.(this.emit);
  }

  destroy(): void {
    this.queue.length = 0;
  }
}

/** A Duplex stage: written in order, its output passed on as it comes. */
class DuplexLink implements Link {
  readonly chain: Chain;
  readonly stream: Duplex;
  readonly next: Link | undefined;
  upstream: DuplexLink | undefined;
  /** Writes not yet consumed by the stream. */
  writing = 0;
  /** Whether anything was written at all. */
  used = false;
  readonly ended: Promise<void>;

  constructor(chain: Chain, stream: Duplex, emit: Push, next: Link | undefined) {
    this.chain = chain;
    this.stream = stream;
    this.next = next;
    if (next !== undefined) next.upstream = this;
    stream.on('data', (data: Uint8Array) => {
      emit(data);
      // The next stage could not take it at once: hold this stream's output until it catches up.
      if (next !== undefined && !next.idle()) stream.pause();
    });
    stream.on('error', (error: Error) => chain.fail(error));
    this.ended = new Promise((resolve, reject) => {
      stream.once('end', resolve);
      stream.once('error', reject);
    });
    // Awaited by end(); a stream that fails earlier has already failed the chain.
    this.ended.catch(() => undefined);
  }

  idle(): boolean {
    return this.writing === 0;
  }

  feed(data: Uint8Array): void {
    if (data.byteLength === 0 || this.chain.failure !== undefined) return;
    this.writing++;
    this.used = true;
    // The callback says the stream consumed the write (a Transform: processed it), or failed.
    this.stream.write(data, (error) => {
      if (error != null) {
        this.chain.fail(error);
        return;
      }
      this.writing--;
      if (this.writing === 0) {
        this.upstream?.resumeOutput();
        this.chain.wake();
      }
    });
  }

  resumeOutput(): void {
    if (this.stream.isPaused()) this.stream.resume();
  }

  end(): void | Promise<void> {
    if (!this.used) {
      // Nothing in, nothing out: ending a zlib stream that got no input would emit a header on
      // one side, and an "unexpected end of file" on the other for an empty connection.
      this.stream.destroy();
      return;
    }
    this.stream.end();
    return this.ended;
  }

  destroy(error: Error): void {
    this.stream.destroy(error);
  }
}
