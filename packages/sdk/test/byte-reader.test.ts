import { describe, it, expect } from 'vitest';
import { ByteReader } from '../src/codecs/index.ts';
import { seededBytes } from '../src/testing/index.ts';

/** Whether two buffers are the same bytes in memory (not equal copies, not neighbours in a pool). */
function sameMemory(a: Buffer, b: Buffer): boolean {
  return a.buffer === b.buffer && a.byteOffset === b.byteOffset;
}

/** A reader holding `data` cut at `cuts` (sorted positions). */
function readerOf(data: Buffer, cuts: number[], maxBytes = 1 << 20): ByteReader {
  const reader = new ByteReader({ maxBytes });
  let from = 0;
  for (const at of [...cuts, data.length]) {
    reader.append(data.subarray(from, at));
    from = at;
  }
  return reader;
}

describe('ByteReader', () => {
  const data = seededBytes(12, 3);

  it('peeks and reads big-endian integers at every chunk boundary', () => {
    for (let a = 0; a <= data.length; a++) {
      for (let b = a; b <= data.length; b++) {
        const reader = readerOf(data, [a, b]);
        expect(reader.length).toBe(12);
        for (let at = 0; at <= 8; at++) {
          expect(reader.peekU8(at)).toBe(data.readUInt8(at));
          expect(reader.peekU16(at)).toBe(data.readUInt16BE(at));
          expect(reader.peekU32(at)).toBe(data.readUInt32BE(at));
        }
        expect([reader.readU8(), reader.readU16(), reader.readU32()]).toEqual([
          data.readUInt8(0),
          data.readUInt16BE(1),
          data.readUInt32BE(3),
        ]);
        expect(reader.read(3)).toEqual(data.subarray(7, 10));
        expect(reader.readAll()).toEqual(data.subarray(10));
        expect(reader.length).toBe(0);
      }
    }
  });

  it('returns views of the appended chunk when the bytes lie in one, copies across chunks', () => {
    // Buffer.alloc does not use the shared pool: each chunk has its own ArrayBuffer. Chunks of
    // 256 bytes and more are kept as they are.
    const first = Buffer.alloc(700, 'header:');
    const second = Buffer.alloc(700, 'payload');
    const reader = new ByteReader({ maxBytes: 2000 });
    reader.append(first);
    reader.append(second);
    const within = reader.peek(6);
    expect(within.buffer).toBe(first.buffer);
    expect(within.byteOffset).toBe(first.byteOffset);
    const across = reader.read(703);
    expect(across.toString('latin1', 693)).toBe('header:pay');
    expect(across.buffer).not.toBe(first.buffer);
    const rest = reader.read(4);
    expect(rest.toString()).toBe('load');
    expect(rest.buffer).toBe(second.buffer);
  });

  it('peeks any prefix at every chunk boundary without changing what is read after', () => {
    for (let a = 0; a <= data.length; a++) {
      for (let b = a; b <= data.length; b++) {
        for (let n = 0; n <= data.length; n++) {
          const reader = readerOf(data, [a, b]);
          expect(reader.peek(n)).toEqual(data.subarray(0, n));
          expect(reader.peek(n)).toEqual(data.subarray(0, n));
          reader.append(Buffer.from([0xee]));
          expect(reader.readU8()).toBe(data[0]);
          expect(reader.readAll()).toEqual(Buffer.concat([data.subarray(1), Buffer.from([0xee])]));
        }
      }
    }
  });

  it('joins the chunks a peek spans once: peeking a growing header again is a view', () => {
    // A parser re-reading its header after every read must not copy it every time (issue 9's
    // first packet in 16,000 reads would copy ~128 MB).
    const reader = new ByteReader({ maxBytes: 16384 });
    reader.append(Buffer.alloc(300, 'a'));
    reader.append(Buffer.alloc(300, 'b'));
    const joined = reader.peek(600);
    expect(sameMemory(reader.peek(600), joined)).toBe(true);
    // Later chunks land in the room the join left, so the whole header stays one piece.
    reader.append(Buffer.alloc(300, 'c'));
    const grown = reader.peek(900);
    expect(sameMemory(grown, joined)).toBe(true);
    expect(grown.toString()).toBe('a'.repeat(300) + 'b'.repeat(300) + 'c'.repeat(300));
    expect(joined.toString()).toBe('a'.repeat(300) + 'b'.repeat(300)); // views stay valid
    expect(reader.indexOf(Buffer.from('bc'))).toBe(599);
    expect(reader.read(900)).toEqual(grown);
    expect(reader.length).toBe(0);
  });

  it('copies short chunks that arrive behind held bytes into blocks of its own', () => {
    // A peer sending one byte per read must cost bytes, not a Buffer object each (issue 9).
    const reader = new ByteReader({ maxBytes: 16384 });
    const pieces = Array.from({ length: 1000 }, (_, i) => Buffer.alloc(1, i & 0xff));
    for (const piece of pieces) reader.append(piece);
    const held = reader.peek(1000);
    expect(sameMemory(reader.peek(1000), held)).toBe(true);
    pieces[500]![0] = 0xff; // the reader holds its own copy from the second piece on
    expect(reader.peek(1000)).toEqual(
      Buffer.from(Array.from({ length: 1000 }, (_, i) => i & 0xff)),
    );
    // Into an empty reader a short chunk goes as it is: a parser usually consumes it at once.
    const empty = new ByteReader({ maxBytes: 10 });
    const alone = Buffer.alloc(3, 'abc');
    empty.append(alone);
    expect(empty.peek(3).buffer).toBe(alone.buffer);
  });

  it('accepts Uint8Array chunks and ignores empty ones', () => {
    const reader = new ByteReader({ maxBytes: 4 });
    reader.append(new Uint8Array(0));
    reader.append(new Uint8Array([1, 2]));
    reader.append(Buffer.from([3, 4]));
    expect(reader.readU32()).toBe(0x01020304);
  });

  it('throws a ProtocolError when more than maxBytes would be held', () => {
    const reader = new ByteReader({ maxBytes: 8, what: 'frame header' });
    reader.append(Buffer.alloc(5));
    expect(() => reader.append(Buffer.alloc(4))).toThrow(
      expect.objectContaining({
        code: 'SIP003_PROTOCOL',
        message: 'frame header: more than 8 bytes (9 received)',
      }),
    );
    expect(reader.length).toBe(5);
    reader.skip(2);
    reader.append(Buffer.alloc(5));
    expect(reader.length).toBe(8);
  });

  it('throws a RangeError for reads past what it holds and for a bad maxBytes', () => {
    const reader = readerOf(data, [3]);
    expect(() => reader.peekU32(9)).toThrow(RangeError);
    expect(() => reader.read(13)).toThrow(
      'ByteReader: 13 bytes asked for, 12 held (check length first)',
    );
    expect(() => reader.skip(-1)).toThrow(RangeError);
    expect(() => new ByteReader({ maxBytes: 0 })).toThrow(RangeError);
  });

  it('finds a delimiter split across chunks', () => {
    const text = Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\nbody');
    for (let cut = 0; cut <= text.length; cut++) {
      const reader = readerOf(text, [cut, Math.min(text.length, cut + 2)]);
      expect(reader.indexOf(Buffer.from('\r\n\r\n'))).toBe(text.indexOf('\r\n\r\n'));
      expect(reader.indexOf(Buffer.from('\r\n'), 16)).toBe(23);
      expect(reader.indexOf(Buffer.from('nope'))).toBe(-1);
      reader.skip(4);
      expect(reader.indexOf(Buffer.from('HTTP'))).toBe(2);
    }
  });

  it('keeps order over many small chunks read one byte at a time', () => {
    const bytes = seededBytes(1000, 9);
    const reader = new ByteReader({ maxBytes: 1000 });
    for (let i = 0; i < bytes.length; i++) reader.append(bytes.subarray(i, i + 1));
    for (let i = 0; i < bytes.length; i++) {
      expect(reader.peekU8()).toBe(bytes[i]);
      reader.skip(1);
      if (i % 97 === 0) reader.append(Buffer.alloc(0));
    }
    expect(reader.length).toBe(0);
    reader.append(Buffer.from([7]));
    expect(reader.readU8()).toBe(7);
  });
});
