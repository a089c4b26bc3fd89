import {
  MAX_FIRST_PACKET,
  MAX_RECORD_PAYLOAD,
  SERVER_FLIGHT_PREFIX,
  TICKET_OFFSET,
  WAIT,
  reject,
  type Detector,
  type FirstPacket,
  type ServerWire,
  type Verdict,
} from '../constants.ts';
import { fillRandom } from '../random.ts';
import { pushRecords, RecordDecoder } from './records.ts';

/**
 * The 107-byte server flight prefix of §3.2 with zeros where the time (11), random (15..42),
 * session id (44..75) and Finished length (105) go. One deliberate difference from 0.0.5: the
 * extensions length at 79 says 15, the length of the extensions that follow, instead of 0
 * (§10 row 11); every offset and the total length stay the same.
 */
const SERVER_FLIGHT_TEMPLATE = Buffer.from(
  '160301005b' + // handshake record, TLS 1.0, length 91
    '02000057' + // ServerHello, length 87
    '0303' + // server version TLS 1.2
    '00000000' + // gmt_unix_time
    '00'.repeat(28) + // random
    '20' + // session id length 32
    '00'.repeat(32) + // session id: the client's, echoed
    'cca8' + // ECDHE-RSA-CHACHA20-POLY1305
    '00' + // compression null
    '000f' + // extensions length
    'ff01000100' + // renegotiation_info, empty
    '00170000' + // extended_master_secret
    '000b00020100' + // ec_point_formats: uncompressed
    '140303000101' + // ChangeCipherSpec
    '160303' + // "encrypted Finished" record
    '0000', // its length F
  'hex',
);

/**
 * The server's first packet (§3.2): the flight prefix followed by as much of `chunk` as fits in
 * one record (16384) as the Finished payload, in one buffer: obfs-local needs the prefix and at
 * least one payload byte in its first read (§4), so the caller must pass a non-empty chunk.
 */
export function buildServerFlight(
  sessionId: Uint8Array,
  chunk: Uint8Array,
  now: number = Date.now(),
): FirstPacket {
  if (sessionId.length !== 32)
    throw new RangeError(`session id must be 32 bytes, got ${sessionId.length}`);
  const consumed = Math.min(chunk.length, MAX_RECORD_PAYLOAD);
  const out = Buffer.allocUnsafe(SERVER_FLIGHT_PREFIX + consumed);
  SERVER_FLIGHT_TEMPLATE.copy(out);
  out.writeUInt32BE(Math.floor(now / 1000) >>> 0, 11);
  fillRandom(out, 15, 43);
  out.set(sessionId, 44);
  out.writeUInt16BE(consumed, SERVER_FLIGHT_PREFIX - 2);
  out.set(chunk.subarray(0, consumed), SERVER_FLIGHT_PREFIX);
  return { packet: out, consumed };
}

/** Bytes 0-2, 5 and 9-10 of a ClientHello from obfs-local (§3.4 step 1). */
const FIXED_BYTES: readonly (readonly [offset: number, value: number, what: string])[] = [
  [0, 0x16, 'record type'],
  [1, 0x03, 'record version'],
  [2, 0x01, 'record version'],
  [5, 0x01, 'handshake type'],
  [9, 0x03, 'client version'],
  [10, 0x03, 'client version'],
];

/**
 * Server-side detector for obfs-local's ClientHello (§3.4), with 0.0.5's acceptance rules: the
 * six fixed bytes above, and the SessionTicket extension type `00 23` at offset 138 with its
 * payload at 142. Nothing else is validated (SNI, cipher suites, session id length: §10 row 6).
 *
 * Fixes: it waits for the whole hello (5 + u16 at 3) before accepting, where 0.0.5 crashes or
 * leaks heap when a read ends between ticket and hello end (§10 row 2); a hello that cannot fit
 * in the first packet or whose ticket overruns the hello is rejected at once (0.0.5 drops it
 * silently or computes negative lengths).
 */
export class ClientHelloDetector implements Detector {
  /** Bytes 44..75 of an accepted hello, echoed in the ServerHello (§3.2). */
  sessionId: Buffer | undefined;

  inspect(head: Buffer): Verdict {
    for (const [offset, value, what] of FIXED_BYTES) {
      if (offset < head.length && head[offset] !== value) {
        return reject(
          `ClientHello ${what} (byte ${offset}) is not ${value.toString(16).padStart(2, '0')}`,
        );
      }
    }
    if (head.length < 5) return WAIT;
    const helloLength = 5 + head.readUInt16BE(3);
    if (helloLength > MAX_FIRST_PACKET)
      return reject(`ClientHello of ${helloLength} bytes exceeds ${MAX_FIRST_PACKET}`);
    if (helloLength < TICKET_OFFSET)
      return reject(`ClientHello of ${helloLength} bytes cannot carry a ticket`);
    if (head.length < TICKET_OFFSET - 2) return WAIT;
    if (head[138] !== 0x00 || head[139] !== 0x23)
      return reject('SessionTicket is not the first extension');
    if (head.length < TICKET_OFFSET) return WAIT;
    const ticketEnd = TICKET_OFFSET + head.readUInt16BE(140);
    if (ticketEnd > helloLength)
      return reject('SessionTicket runs past the end of the ClientHello');
    if (head.length < helloLength) return WAIT;
    this.sessionId = Buffer.from(head.subarray(44, 76));
    return {
      kind: 'accept',
      payloadStart: TICKET_OFFSET,
      payloadEnd: ticketEnd,
      restStart: helloLength,
    };
  }
}

/**
 * The server half of TLS mode: detection (§3.4), then the client's records are unwrapped;
 * upstream's first bytes ride in the server flight (§3.2), the rest in records (§3.3). There is
 * no early reply: 0.0.5 ignores reverse_proxy in TLS mode and the flight needs payload (§4).
 */
export function tlsServerWire(): ServerWire {
  const detector = new ClientHelloDetector();
  const records = new RecordDecoder();
  return {
    detector,
    decode: (data, push) => records.transform(data, push),
    end: () => records.flush(),
    // answer() only runs after acceptance, which sets the session id.
    answer: (chunk) => buildServerFlight(detector.sessionId!, chunk),
    encode: pushRecords,
    early: undefined,
  };
}
