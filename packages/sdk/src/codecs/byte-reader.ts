import { ProtocolError } from '../errors.ts';

export interface ByteReaderOptions {
  /**
   * Most bytes held at once. Appending past it throws a {@link ProtocolError}: a peer that never
   * finishes a header or a frame must not grow memory.
   */
  maxBytes: number;
  /** What the bytes are, for the error message (default "buffered data"). */
  what?: string;
}

/**
 * A bounded queue of received bytes for incremental parsers: append chunks as they arrive, peek
 * and read big-endian integers and byte runs across chunk boundaries. Reads return a view into
 * the appended chunk when the bytes lie within one (no copy), and copy only across chunks. It
 * keeps references to appended chunks, so do not modify a chunk after appending it.
 * Reading more than {@link ByteReader.length} is a bug in the caller and throws a RangeError.
 */
export class ByteReader {
  readonly maxBytes: number;
  readonly what: string;
  /** Chunks from `first` on hold the data; `offset` bytes of `chunks[first]` are consumed. */
  #chunks: Buffer[] = [];
  #first = 0;
  #offset = 0;
  #length = 0;

  constructor({ maxBytes, what = 'buffered data' }: ByteReaderOptions) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1)
      throw new RangeError(`ByteReader: maxBytes must be a positive integer, got ${maxBytes}`);
    this.maxBytes = maxBytes;
    this.what = what;
  }

  /** Bytes held. */
  get length(): number {
    return this.#length;
  }

  /** Adds a chunk at the end. Throws a ProtocolError when more than `maxBytes` would be held. */
  append(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    if (this.#length + chunk.byteLength > this.maxBytes)
      throw new ProtocolError(
        `${this.what}: more than ${this.maxBytes} bytes (${this.#length + chunk.byteLength} received)`,
      );
    this.#chunks.push(
      Buffer.isBuffer(chunk)
        ? chunk
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
    );
    this.#length += chunk.byteLength;
  }

  /** The byte at `offset` from the start, without consuming it. */
  peekU8(offset = 0): number {
    this.#check(offset, 1);
    let i = this.#first;
    let at = this.#offset + offset;
    while (at >= this.#chunks[i]!.length) at -= this.#chunks[i++]!.length;
    return this.#chunks[i]![at]!;
  }

  /** Big-endian unsigned 16-bit integer at `offset`, without consuming it. */
  peekU16(offset = 0): number {
    const head = this.#chunks[this.#first];
    if (head !== undefined && this.#offset + offset + 2 <= head.length)
      return head.readUInt16BE(this.#offset + offset);
    return this.#peekUInt(offset, 2);
  }

  /** Big-endian unsigned 32-bit integer at `offset`, without consuming it. */
  peekU32(offset = 0): number {
    const head = this.#chunks[this.#first];
    if (head !== undefined && this.#offset + offset + 4 <= head.length)
      return head.readUInt32BE(this.#offset + offset);
    return this.#peekUInt(offset, 4);
  }

  readU8(): number {
    const value = this.peekU8();
    this.skip(1);
    return value;
  }

  readU16(): number {
    const value = this.peekU16();
    this.skip(2);
    return value;
  }

  readU32(): number {
    const value = this.peekU32();
    this.skip(4);
    return value;
  }

  /** The first `n` bytes, without consuming them (a view when they lie in one chunk). */
  peek(n: number): Buffer {
    this.#check(0, n);
    const head = this.#chunks[this.#first];
    if (n === 0 || head === undefined) return Buffer.alloc(0);
    if (this.#offset + n <= head.length) return head.subarray(this.#offset, this.#offset + n);
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    for (let i = this.#first, from = this.#offset; copied < n; i++, from = 0) {
      copied += this.#chunks[i]!.copy(
        out,
        copied,
        from,
        Math.min(this.#chunks[i]!.length, from + n - copied),
      );
    }
    return out;
  }

  /** Consumes and returns the first `n` bytes (a view when they lie in one chunk). */
  read(n: number): Buffer {
    const out = this.peek(n);
    this.skip(n);
    return out;
  }

  /** Consumes and returns everything held. */
  readAll(): Buffer {
    return this.read(this.#length);
  }

  /** Drops the first `n` bytes. */
  skip(n: number): void {
    this.#check(0, n);
    this.#length -= n;
    let left = this.#offset + n;
    while (left > 0 && left >= this.#chunks[this.#first]!.length) {
      left -= this.#chunks[this.#first]!.length;
      this.#chunks[this.#first++] = EMPTY; // let the consumed chunk go
    }
    this.#offset = left;
    if (this.#first === this.#chunks.length) {
      this.#chunks = [];
      this.#first = 0;
    } else if (this.#first >= 16 && this.#first * 2 >= this.#chunks.length) {
      // Compact now and then rather than shift() per chunk (which is linear each time).
      this.#chunks = this.#chunks.slice(this.#first);
      this.#first = 0;
    }
  }

  /**
   * Position of the first occurrence of `needle` at or after `from`, or -1. Searches across
   * chunk boundaries (the chunks are joined into one, once, when the data spans several).
   */
  indexOf(needle: Uint8Array, from = 0): number {
    if (this.#length === 0) return needle.byteLength === 0 ? 0 : -1;
    if (this.#chunks.length - this.#first > 1) {
      const joined = this.peek(this.#length);
      this.#chunks = [joined];
      this.#first = 0;
      this.#offset = 0;
    }
    const head = this.#chunks[this.#first]!;
    const at = head.indexOf(needle, this.#offset + from);
    return at < 0 ? -1 : at - this.#offset;
  }

  #peekUInt(offset: number, bytes: number): number {
    this.#check(offset, bytes);
    let value = 0;
    for (let i = 0; i < bytes; i++) value = value * 256 + this.peekU8(offset + i);
    return value;
  }

  #check(offset: number, n: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(n) || offset < 0 || n < 0)
      throw new RangeError(`ByteReader: bad offset ${offset} or length ${n}`);
    if (offset + n > this.#length)
      throw new RangeError(
        `ByteReader: ${offset + n} bytes asked for, ${this.#length} held (check length first)`,
      );
  }
}

const EMPTY = Buffer.alloc(0);
