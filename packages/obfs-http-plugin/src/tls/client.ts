import type { Codec, Push } from '@sip003/sdk';
import { ProtocolError } from '@sip003/sdk';
import { ByteReader } from '@sip003/sdk/codecs';
import {
  MAX_FIRST_PACKET,
  MAX_CLIENT_HELLO,
  MAX_HOST_LENGTH,
  MAX_RECORD_PAYLOAD,
  SERVER_FLIGHT_PREFIX,
  TICKET_OFFSET,
  type ClientWire,
  type FirstPacket,
} from '../constants.ts';
import { fillRandom } from '../random.ts';
import { pushRecords, RecordDecoder } from './records.ts';

/** Cipher suites length `00 38` and the 28 suites of §3.1 (offset 76, 58 bytes). */
const CIPHER_SUITES = Buffer.from(
  '0038' +
    'c02cc030009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067c00a' +
    'c0140039c009c0130033009d009c003d003c0035002f00ff',
  'hex',
);

/**
 * The 66 constant bytes after the SNI (§3.1): ec_point_formats, supported_groups,
 * signature_algorithms, encrypt_then_mac, extended_master_secret.
 */
const TAIL = Buffer.from(
  '000b000403010002' +
    '000a000a0008001d001700190018' +
    '000d0020001e060106020603050105020503040104020403030103020303020102020203' +
    '00160000' +
    '00170000',
  'hex',
);

/** Everything except the ticket payload and the host: 217 bytes (§3.1 total = 217 + P + H). */
export const CLIENT_HELLO_OVERHEAD = TICKET_OFFSET + 9 + TAIL.length;

/**
 * The client's first packet (§3.1): a ClientHello whose SessionTicket extension, always the
 * first extension at offset 138, carries as much of `chunk` as keeps the hello within `limit`
 * bytes. obfs-server finds the payload by fixed offsets (§10 row 6), so the layout is exact.
 * The time field is the real clock; random and session id come from the CSPRNG (§6).
 */
export function buildClientHello(
  host: Buffer,
  chunk: Uint8Array,
  now: number = Date.now(),
  limit: number = MAX_FIRST_PACKET,
): FirstPacket {
  const hostLength = host.length;
  if (hostLength === 0 || hostLength > MAX_HOST_LENGTH) {
    throw new RangeError(
      `obfs-host must be 1 to ${MAX_HOST_LENGTH} bytes for the SNI, got ${hostLength}`,
    );
  }
  const consumed = Math.max(0, Math.min(chunk.length, limit - CLIENT_HELLO_OVERHEAD - hostLength));
  if (consumed === 0 && chunk.length > 0) {
    throw new RangeError(`ClientHello leaves no room for payload within ${limit} bytes`);
  }
  const total = CLIENT_HELLO_OVERHEAD + consumed + hostLength;
  const out = Buffer.allocUnsafe(total);
  out[0] = 0x16; // handshake record, version 03 01
  out[1] = 0x03;
  out[2] = 0x01;
  out.writeUInt16BE(total - 5, 3);
  out[5] = 0x01; // ClientHello, 24-bit length
  out[6] = 0x00;
  out.writeUInt16BE(total - 9, 7);
  out[9] = 0x03; // client version TLS 1.2
  out[10] = 0x03;
  out.writeUInt32BE(Math.floor(now / 1000) >>> 0, 11);
  fillRandom(out, 15, 43);
  out[43] = 32;
  fillRandom(out, 44, 76);
  CIPHER_SUITES.copy(out, 76);
  out[134] = 0x01; // one compression method: null
  out[135] = 0x00;
  out.writeUInt16BE(total - 138, 136);
  out.writeUInt16BE(0x0023, 138); // SessionTicket carrying the payload
  out.writeUInt16BE(consumed, 140);
  out.set(chunk.subarray(0, consumed), TICKET_OFFSET);
  const sni = TICKET_OFFSET + consumed;
  out.writeUInt16BE(0x0000, sni); // server_name
  out.writeUInt16BE(hostLength + 5, sni + 2);
  out.writeUInt16BE(hostLength + 3, sni + 4);
  out[sni + 6] = 0x00; // host_name
  out.writeUInt16BE(hostLength, sni + 7);
  host.copy(out, sni + 9);
  TAIL.copy(out, sni + 9 + hostLength);
  return { packet: out, consumed };
}

/**
 * The client half of TLS mode: the first chunk rides in the ClientHello's ticket (§3.1), later
 * chunks in records (§3.3), and the server's flight and records are unwrapped (§3.5).
 */
export function tlsClientWire(host: string): ClientWire {
  const sni = Buffer.from(host, 'utf8');
  return {
    first: (chunk) => buildClientHello(sni, chunk, Date.now(), MAX_CLIENT_HELLO),
    later: pushRecords,
    decode: new ServerFlightDecoder(),
  };
}

/**
 * Client-side decoder of the server's side (§3.5): the 107-byte ServerHello/CCS/Finished prefix,
 * then F bytes of "Finished" payload passed on raw, then application-data records. Leniency as in
 * 0.0.5: only byte 0 (`16`) and F (u16 at 105) are read. Fix for §10 row 1: the prefix may arrive
 * in any number of reads and F may be 0 (0.0.5 needs prefix + 1 byte in its first read).
 */
export class ServerFlightDecoder implements Codec {
  /** The flight prefix while it comes in; undefined once it is read. */
  #prefix: ByteReader | undefined = new ByteReader({
    maxBytes: SERVER_FLIGHT_PREFIX,
    what: 'TLS server flight',
  });
  /** Finished payload bytes still to pass on. */
  #finished = 0;
  readonly #records = new RecordDecoder();

  transform(chunk: Buffer, push: Push): void {
    if (chunk.length === 0) return;
    let offset = 0;
    const prefix = this.#prefix;
    if (prefix !== undefined) {
      offset = Math.min(chunk.length, SERVER_FLIGHT_PREFIX - prefix.length);
      prefix.append(offset === chunk.length ? chunk : chunk.subarray(0, offset));
      const type = prefix.peekU8();
      if (type !== 0x16) {
        throw new ProtocolError(
          `TLS server flight must start with 16, got ${type.toString(16).padStart(2, '0')}`,
        );
      }
      if (prefix.length < SERVER_FLIGHT_PREFIX) return;
      this.#finished = prefix.peekU16(SERVER_FLIGHT_PREFIX - 2);
      this.#prefix = undefined;
      // Real servers send at most one read's worth (16384, §3.2); more is not simple-obfs.
      if (this.#finished > MAX_RECORD_PAYLOAD) {
        throw new ProtocolError(
          `TLS Finished length must be at most ${MAX_RECORD_PAYLOAD}, got ${this.#finished}`,
        );
      }
    }
    if (this.#finished > 0 && offset < chunk.length) {
      const end = Math.min(chunk.length, offset + this.#finished);
      push(chunk.subarray(offset, end));
      this.#finished -= end - offset;
      offset = end;
    }
    if (offset < chunk.length)
      this.#records.transform(offset === 0 ? chunk : chunk.subarray(offset), push);
  }

  flush(): void {
    if ((this.#prefix !== undefined && this.#prefix.length > 0) || this.#finished > 0) {
      throw new ProtocolError('TLS server flight truncated: stream ended inside the handshake');
    }
    this.#records.flush();
  }
}
