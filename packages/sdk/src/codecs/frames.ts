import type { Codec } from '../codec.ts';
import { ProtocolError } from '../errors.ts';
import { ByteReader } from './byte-reader.ts';

export interface LengthPrefixedOptions {
  /** Size of the big-endian length header in bytes: 1, 2 or 4 (default 2). */
  headerBytes?: 1 | 2 | 4;
  /**
   * Largest payload of one frame (default: the most the header can say, capped at 16 MiB).
   * The encoder splits longer writes; the decoder rejects a longer frame with a ProtocolError
   * before buffering it, so a peer cannot make it hold more than this.
   */
  maxFrame?: number;
}

const MAX_DEFAULT_FRAME = 16 * 1024 * 1024;

/**
 * Builds the codec pair of a length-prefixed framing: every frame is a big-endian payload length
 * of `headerBytes` bytes, then the payload. `encode` frames what it is given (a write longer than
 * `maxFrame` becomes several frames); `decode` hands on each payload whole, whatever the split of
 * the bytes it receives. A stream that ends inside a frame is a ProtocolError (a truncated stream
 * must not pass for a clean end). Frames of length 0 are accepted and carry nothing. Call it once
 * per connection: the decoder keeps the partial frame.
 */
export function lengthPrefixed({ headerBytes = 2, maxFrame }: LengthPrefixedOptions = {}): {
  encode: Codec;
  decode: Codec;
} {
  if (headerBytes !== 1 && headerBytes !== 2 && headerBytes !== 4)
    throw new RangeError(
      `lengthPrefixed: headerBytes must be 1, 2 or 4, got ${String(headerBytes)}`,
    );
  const headerMax = headerBytes === 4 ? 0xffff_ffff : (1 << (8 * headerBytes)) - 1;
  const max = maxFrame ?? Math.min(headerMax, MAX_DEFAULT_FRAME);
  if (!Number.isSafeInteger(max) || max < 1 || max > headerMax)
    throw new RangeError(
      `lengthPrefixed: maxFrame must be an integer from 1 to ${headerMax} for a ${headerBytes}-byte header, got ${max}`,
    );
  const header = (length: number): Buffer => {
    const out = Buffer.allocUnsafe(headerBytes);
    out.writeUIntBE(length, 0, headerBytes);
    return out;
  };

  const encode: Codec = {
    transform(chunk, push) {
      // Header and payload are pushed separately: the relay writes them in one writev, no copy.
      for (let at = 0; at < chunk.length; at += max) {
        const payload = chunk.subarray(at, at + max);
        push(header(payload.length));
        push(payload);
      }
    },
  };

  const cap = headerBytes + max;
  const pending = new ByteReader({ maxBytes: cap, what: 'length-prefixed frame' });
  const readHeader =
    headerBytes === 1
      ? () => pending.readU8()
      : headerBytes === 2
        ? () => pending.readU16()
        : () => pending.readU32();
  /** Payload length of the frame being read once its header is in, else -1. */
  let expected = -1;
  const decode: Codec = {
    transform(chunk, push) {
      // Feed the chunk in slices that fit beside what is pending: what is held never exceeds one
      // frame, however many frames one chunk carries. Payloads within one slice are views of it.
      for (let at = 0; at < chunk.length;) {
        const slice = chunk.subarray(at, at + cap - pending.length);
        at += slice.length;
        pending.append(slice);
        for (;;) {
          if (expected < 0) {
            if (pending.length < headerBytes) break;
            expected = readHeader();
            if (expected > max)
              throw new ProtocolError(
                `length-prefixed frame: ${expected} bytes announced, at most ${max} allowed`,
              );
          }
          if (pending.length < expected) break;
          const payload = pending.read(expected);
          expected = -1;
          push(payload);
        }
      }
    },
    flush() {
      if (pending.length > 0 || expected >= 0)
        throw new ProtocolError(
          expected < 0
            ? `length-prefixed frame: the stream ended inside a frame header (${pending.length} of ${headerBytes} bytes)`
            : `length-prefixed frame: the stream ended inside a frame (${pending.length} of ${expected} bytes)`,
        );
    },
  };
  return { encode, decode };
}
