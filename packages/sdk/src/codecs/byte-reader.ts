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
 * Chunks shorter than this, appended to bytes already held, are copied into the reader's own
 * storage instead of kept: a peer that sends its bytes one per read must cost those bytes, not a
 * Buffer object (and the read buffer it is a view of) each.
 */
const COPY_BELOW = 256;
/** Size of the reader's own storage blocks for short chunks (at most `maxBytes`). */
const BLOCK = 4096;

/**
 * A bounded queue of received bytes for incremental parsers: append chunks as they arrive, peek
 * and read big-endian integers and byte runs across chunk boundaries. Reads return a view into
 * the appended chunk when the bytes lie within one (no copy), and copy only across chunks. It
 * keeps references to appended chunks, so do not modify a chunk after appending it; chunks
 * shorter than 256 bytes that arrive behind held bytes are copied together into blocks of its
 * own instead. A `peek` across
 * chunks joins them in place, with room to grow, so a parser that re-reads a growing header
 * (`peek(length)` after every read) copies each byte about twice in all, not once per call.
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
  /**
   * Storage of our own whose bytes from `#tailUsed` on are free; set only while the last chunk
   * is a view of it ending at `#tailUsed`, so short chunks are appended by copying them there.
   * Bytes once written are never overwritten: views handed out stay valid.
   */
  #tail: Buffer | undefined;
  #tailUsed = 0;

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
    const n = chunk.byteLength;
    const held = this.#length;
    this.#length += n;
    const tail = this.#tail;
    if (tail !== undefined && tail.length - this.#tailUsed >= n) {
      // Room in our own storage: the last chunk, a view of it, grows over the copied bytes.
      tail.set(chunk, this.#tailUsed);
      const last = this.#chunks.length - 1;
      const start = this.#chunks[last]!.byteOffset - tail.byteOffset;
      this.#tailUsed += n;
      this.#chunks[last] = tail.subarray(start, this.#tailUsed);
    } else if (n < COPY_BELOW && held > 0) {
      // (Into an empty reader a chunk goes as it is: the usual parser consumes it at once.)
      const block = Buffer.allocUnsafe(Math.min(BLOCK, this.maxBytes));
      block.set(chunk);
      this.#chunks.push(block.subarray(0, n));
      this.#tail = block;
      this.#tailUsed = n;
    } else {
      this.#chunks.push(
        Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, n),
      );
      this.#tail = undefined;
    }
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

  /**
   * The first `n` bytes, without consuming them: a view. When they span chunks, those chunks are
   * joined into one in place (once: the next peek of them is a view too).
   */
  peek(n: number): Buffer {
    this.#check(0, n);
    const head = this.#chunks[this.#first];
    if (n === 0 || head === undefined) return Buffer.alloc(0);
    if (this.#offset + n > head.length) return this.#join(n);
    return head.subarray(this.#offset, this.#offset + n);
  }

  /** Consumes and returns the first `n` bytes (a view when they lie in one chunk, else a copy). */
  read(n: number): Buffer {
    this.#check(0, n);
    const head = this.#chunks[this.#first];
    if (n === 0 || head === undefined) return Buffer.alloc(0);
    let out: Buffer;
    if (this.#offset + n <= head.length) out = head.subarray(this.#offset, this.#offset + n);
    else {
      out = Buffer.allocUnsafe(n);
      this.#copyTo(out, n);
    }
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
      this.#tail = undefined;
    } else if (this.#first >= 16 && this.#first * 2 >= this.#chunks.length) {
      // Compact now and then rather than shift() per chunk (which is linear each time).
      this.#chunks = this.#chunks.slice(this.#first);
      this.#first = 0;
    }
  }

  /**
   * Position of the first occurrence of `needle` at or after `from`, or -1. Searches across
   * chunk boundaries (the chunks are joined into one, as by `peek`, when the data spans several).
   */
  indexOf(needle: Uint8Array, from = 0): number {
    if (this.#length === 0) return needle.byteLength === 0 ? 0 : -1;
    return this.peek(this.#length).indexOf(needle, from);
  }

  /**
   * Replaces the chunks holding the first `n` bytes (more than the first chunk has) by one copy,
   * and returns it. Joining everything leaves room to grow (twice the size, within `maxBytes`),
   * so short chunks appended later land in it and a growing header is not joined again and again.
   */
  #join(n: number): Buffer {
    const all = n === this.#length;
    const joined = Buffer.allocUnsafe(all ? Math.min(this.maxBytes, Math.max(2 * n, BLOCK)) : n);
    // The chunk where the n-th byte lies, and how far into it: its rest stays a chunk of its own.
    let i = this.#first;
    let end = this.#offset + n;
    while (end > this.#chunks[i]!.length) end -= this.#chunks[i++]!.length;
    this.#copyTo(joined, n);
    const rest = this.#chunks[i]!.subarray(end);
    const view = joined.subarray(0, n);
    const replaced = rest.length > 0 ? [view, rest] : [view];
    this.#chunks = [...replaced, ...this.#chunks.slice(i + 1)];
    this.#first = 0;
    this.#offset = 0;
    if (all) {
      this.#tail = joined;
      this.#tailUsed = n;
    }
    return view;
  }

  /** Copies the first `n` bytes into `out` (they span chunks). */
  #copyTo(out: Buffer, n: number): void {
    let copied = 0;
    for (let i = this.#first, from = this.#offset; copied < n; i++, from = 0) {
      const chunk = this.#chunks[i]!;
      copied += chunk.copy(out, copied, from, Math.min(chunk.length, from + n - copied));
    }
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
