import type { Codec, Push } from '@sip003/sdk';
import { ProtocolError } from '@sip003/sdk';
import { ByteReader } from '@sip003/sdk/codecs';
import { MAX_RECORD_PAYLOAD } from '../constants.ts';

/** Content type (application data) and version (TLS 1.2) of every record after the handshake. */
const APPLICATION_DATA = 0x17;
const VERSION_MAJOR = 0x03;
const VERSION_MINOR = 0x03;
export const RECORD_HEADER_LENGTH = 5;

/** The 5-byte header `17 03 03` + u16 length of one application-data record (§3.3). */
export function recordHeader(length: number): Buffer {
  const header = Buffer.allocUnsafe(RECORD_HEADER_LENGTH);
  header[0] = APPLICATION_DATA;
  header[1] = VERSION_MAJOR;
  header[2] = VERSION_MINOR;
  header.writeUInt16BE(length, 3);
  return header;
}

/**
 * Wraps `data` in application-data records of at most 16384 payload bytes (§3.3; 0.0.5 rejects
 * larger ones, §10 row 3). Header and payload are pushed separately, so the payload is never
 * copied; the SDK writes the pushes of one call in order.
 */
export function pushRecords(data: Buffer, push: Push): void {
  for (let offset = 0; offset < data.length; offset += MAX_RECORD_PAYLOAD) {
    const end = Math.min(data.length, offset + MAX_RECORD_PAYLOAD);
    push(recordHeader(end - offset));
    push(data.subarray(offset, end));
  }
}

/**
 * Payloads shorter than this are copied into one output buffer per input chunk instead of pushed
 * as views: a peer that sends 1-byte records (10,000 per read) must not cost 10,000 objects.
 */
const COPY_BELOW = 256;

/**
 * Scratch space for tiny payloads, shared: a transform call gathers into it and copies what it
 * gathered out before returning, so a push never pins a chunk-sized buffer for a few bytes.
 */
let scratch = Buffer.allocUnsafeSlow(64 * 1024);

/** The payloads of one input chunk, in order: tiny ones copied together, others as views. */
class Gathered {
  readonly #push: Push;
  #filled = 0;

  constructor(capacity: number, push: Push) {
    if (scratch.length < capacity) scratch = Buffer.allocUnsafeSlow(capacity);
    this.#push = push;
  }

  add(chunk: Buffer, from: number, to: number): void {
    if (to - from < COPY_BELOW) {
      for (let i = from; i < to; i++) scratch[this.#filled++] = chunk[i]!;
      return;
    }
    this.flush();
    this.#push(chunk.subarray(from, to));
  }

  flush(): void {
    if (this.#filled === 0) return;
    const out = Buffer.allocUnsafe(this.#filled);
    scratch.copy(out, 0, 0, this.#filled);
    this.#filled = 0;
    this.#push(out);
  }
}

/**
 * Incremental parser of application-data records (§3.4 step 6): state survives any split, byte
 * by byte included. Payloads of a useful size are pushed as views of the input; tiny ones are
 * gathered into one copy per chunk. Only the 5 header bytes are ever buffered across chunks.
 * Unlike 0.0.5 the length is read unsigned (0x8000 and up crash 0.0.5, §10 row 3) and every
 * framing error throws a ProtocolError, which closes the connection instead of forwarding
 * garbage (§10 row 7). Zero-length records are accepted and produce nothing.
 *
 * Not the SDK's `lengthPrefixed`: that hands on whole frames, so a 16 KiB record spanning two
 * reads would be copied and held until complete; here a record's payload streams on as views.
 */
export class RecordDecoder implements Codec {
  /** A header split across chunks, while it comes in (empty between records otherwise). */
  readonly #header = new ByteReader({
    maxBytes: RECORD_HEADER_LENGTH,
    what: 'TLS record header',
  });
  /** Payload bytes of the current record still to come. */
  #remaining = 0;

  transform(chunk: Buffer, push: Push): void {
    const out = new Gathered(chunk.length, push);
    try {
      this.#decode(chunk, out);
    } finally {
      // What was decoded before a framing error still goes out first, as with views.
      out.flush();
    }
  }

  #decode(chunk: Buffer, out: Gathered): void {
    const header = this.#header;
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#remaining > 0) {
        const end = Math.min(chunk.length, offset + this.#remaining);
        out.add(chunk, offset, end);
        this.#remaining -= end - offset;
        offset = end;
        continue;
      }
      if (header.length === 0 && chunk.length - offset >= RECORD_HEADER_LENGTH) {
        // The whole header is in this chunk (the usual case): read it in place.
        this.#remaining = parseHeader(chunk, offset);
        offset += RECORD_HEADER_LENGTH;
        continue;
      }
      const take = Math.min(RECORD_HEADER_LENGTH - header.length, chunk.length - offset);
      header.append(chunk.subarray(offset, offset + take));
      offset += take;
      if (header.length < RECORD_HEADER_LENGTH) return;
      this.#remaining = parseHeader(header.read(RECORD_HEADER_LENGTH), 0);
    }
  }

  /** A stream that ends inside a record was cut short: that is a framing error too. */
  flush(): void {
    if (this.#header.length > 0 || this.#remaining > 0) {
      throw new ProtocolError(
        `TLS record truncated: stream ended ${this.#header.length > 0 ? 'inside a record header' : `${this.#remaining} bytes before the end of a record`}`,
      );
    }
  }
}

/** Validates the record header at `at` and returns its payload length. */
function parseHeader(bytes: Buffer, at: number): number {
  if (
    bytes[at] !== APPLICATION_DATA ||
    bytes[at + 1] !== VERSION_MAJOR ||
    bytes[at + 2] !== VERSION_MINOR
  ) {
    throw new ProtocolError(
      `TLS record must start with 17 03 03, got ${bytes.toString('hex', at, at + 3).replace(/(..)(?!$)/g, '$1 ')}`,
    );
  }
  const length = (bytes[at + 3]! << 8) | bytes[at + 4]!;
  if (length > MAX_RECORD_PAYLOAD) {
    throw new ProtocolError(
      `TLS record length must be at most ${MAX_RECORD_PAYLOAD}, got ${length}`,
    );
  }
  return length;
}
