import { describe, expect, it } from 'vitest';
import { ProtocolError } from '@sip003/sdk';
import { checkCodecSplits } from '@sip003/sdk/testing';
import { assertObfsSessionOptions, createObfsSession } from '../src/session.ts';
import { buildClientHello } from '../src/tls/client.ts';
import { recordHeader } from '../src/tls/records.ts';
import { websocketAccept } from '../src/http/response.ts';
import {
  asCodec,
  ascii,
  byteByByte,
  fakeContext,
  seededBytes,
  seededRandom,
  sessionOptions,
  startSession,
} from './helpers.ts';

const FAILOVER = { host: '192.0.2.80', port: 80 };
const REQUEST = ascii(
  'GET / HTTP/1.1\r\nHost: www.example.com:8388\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nContent-Length: 7\r\n\r\nPAYLOAD',
);
const record = (text: string): Buffer => Buffer.concat([recordHeader(text.length), ascii(text)]);

describe('client session', () => {
  it('http: header + first payload in one push, Host port = dialed port, then raw', () => {
    const { encode } = startSession('client', sessionOptions(), {
      host: '198.51.100.7',
      port: 40025,
    });
    encode.write(ascii('hello'), ascii('more'));
    expect(encode.pushes).toHaveLength(2);
    const first = encode.pushes[0]!.toString('latin1');
    expect(first).toMatch(/^GET \/ HTTP\/1\.1\r\nHost: www\.example\.com:40025\r\n/);
    expect(first.endsWith('\r\nContent-Length: 5\r\n\r\nhello')).toBe(true);
    expect(encode.pushes[1]!.toString()).toBe('more');
  });

  it('http: a first chunk larger than 16384 bytes continues raw after the first packet', () => {
    const { encode } = startSession('client', sessionOptions());
    const big = Buffer.alloc(50000, 0x61);
    encode.write(big);
    expect(encode.pushes[0]!.length).toBe(16384);
    const headerEnd = encode.pushes[0]!.indexOf('\r\n\r\n') + 4;
    expect(Buffer.concat(encode.pushes).subarray(headerEnd).equals(big)).toBe(true);
  });

  it('tls: ClientHello carrying the first chunk, then records; first chunk over the cap spills into records', () => {
    const { encode } = startSession('client', sessionOptions({ obfs: 'tls' }));
    encode.write(Buffer.alloc(20000, 0x62), ascii('later'));
    const hello = encode.pushes[0]!;
    // One TCP segment, so obfs-server 0.0.5 never reads a partial hello (its crash, §10 row 2).
    expect(hello.length).toBe(1400);
    const ticket = hello.readUInt16BE(140);
    expect(ticket).toBe(1400 - 217 - 15);
    // The rest as records of at most 16384 payload bytes.
    expect(encode.pushes.slice(1).map((p) => p.length)).toEqual([
      5,
      16384,
      5,
      20000 - ticket - 16384,
      5,
      5,
    ]);
    expect(encode.pushes.at(-1)!.toString()).toBe('later');
  });

  it('ignores empty chunks', () => {
    const { encode } = startSession('client', sessionOptions());
    encode.write(Buffer.alloc(0));
    expect(encode.pushes).toHaveLength(0);
    encode.write(ascii('x'));
    expect(encode.pushes[0]!.toString('latin1')).toContain('Content-Length: 1\r\n\r\nx');
  });
});

describe('server session, http', () => {
  it('accepts, passes the body on, answers 101 with the derived Accept plus upstream bytes', () => {
    const { ctx, encode, decode } = startSession(
      'server',
      sessionOptions({ serverObfsHost: 'www.example.com', failover: FAILOVER }),
    );
    decode.write(REQUEST, ascii('NEXT'));
    expect(decode.output.toString()).toBe('PAYLOADNEXT');
    expect(ctx.redirects).toEqual([]);
    encode.write(ascii('UPSTREAM'), ascii('AGAIN'));
    const answer = encode.pushes[0]!.toString('latin1');
    expect(answer).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(answer).toContain(
      `\r\nSec-WebSocket-Accept: ${websocketAccept('dGhlIHNhbXBsZSBub25jZQ==')}\r\n`,
    );
    expect(answer.endsWith('\r\n\r\nUPSTREAM')).toBe(true);
    expect(encode.pushes[1]!.toString()).toBe('AGAIN');
  });

  it('accepts a request delivered byte by byte', () => {
    const { decode } = startSession(
      'server',
      sessionOptions({ serverObfsHost: 'www.example.com' }),
    );
    decode.write(...byteByByte(REQUEST));
    expect(decode.output.toString()).toBe('PAYLOAD');
  });

  it('rejects to the failover with the bytes received, then relays raw both ways', () => {
    const { ctx, encode, decode } = startSession(
      'server',
      sessionOptions({ serverObfsHost: 'www.bing.com', failover: FAILOVER }),
    );
    decode.write(REQUEST.subarray(0, 30), REQUEST.subarray(30), ascii('later'));
    expect(ctx.redirects).toEqual([FAILOVER]);
    expect(ctx.target).toEqual(FAILOVER);
    expect(decode.pushes).toEqual([REQUEST, ascii('later')]);
    encode.write(ascii('FAILOVER'));
    expect(encode.output.toString()).toBe('FAILOVER');
    // A first packet in one read is forwarded as that read, not copied.
    const whole = startSession('server', sessionOptions({ serverObfsHost: 'www.bing.com' }));
    whole.decode.write(REQUEST);
    expect(whole.decode.pushes).toHaveLength(1);
    expect(whole.decode.pushes[0]!.buffer).toBe(REQUEST.buffer);
    expect(whole.decode.pushes[0]!.byteOffset).toBe(REQUEST.byteOffset);
  });

  it('rejects to upstream when there is no failover (plain ss clients keep working, §10 row 17)', () => {
    const { ctx, decode } = startSession('server', sessionOptions());
    decode.write(ascii('\x8f\x1e33 binary'));
    expect(ctx.redirects).toEqual([]);
    expect(decode.output.toString('latin1')).toBe('\x8f\x1e33 binary');
  });

  it('rejects an unterminated header once it passes 16384 bytes, forwarding all of it', () => {
    const { ctx, decode } = startSession('server', sessionOptions({ failover: FAILOVER }));
    const huge = ascii('GET / HTTP/1.1\r\nX-Pad: ' + 'a'.repeat(17000));
    decode.write(huge.subarray(0, 16000));
    expect(decode.pushes).toHaveLength(0);
    decode.write(huge.subarray(16000));
    expect(ctx.redirects).toEqual([FAILOVER]);
    expect(decode.output.equals(huge)).toBe(true);
  });

  it('holds a first packet of one-byte reads once, in one piece of at most 16 KiB', () => {
    // Issue 9: keeping every read cost ~230x the packet (4 MiB per connection until the deadline).
    const { decode } = startSession('server', sessionOptions({ failover: FAILOVER }));
    const attack = ascii('GET / HTTP/1.1\r\nX: ' + 'a'.repeat(16_400));
    decode.write(attack.subarray(0, 19));
    for (let offset = 19; offset < attack.length && decode.pushes.length === 0; offset++) {
      decode.write(attack.subarray(offset, offset + 1));
    }
    expect(decode.pushes).toHaveLength(1);
    // Not a view pinning the first read: one allocation of its own, bounded by the first packet.
    expect(decode.pushes[0]!.buffer).not.toBe(attack.buffer);
    expect(decode.pushes[0]!.buffer.byteLength).toBeLessThanOrEqual(16_384);
    expect(decode.pushes[0]!.equals(attack.subarray(0, 16_384))).toBe(true);
  });

  it('cuts a read that runs past the first 16384 bytes: the rest follows the verdict', () => {
    const { decode } = startSession('server', sessionOptions({ failover: FAILOVER }));
    const huge = ascii('GET / HTTP/1.1\r\nX-Pad: ' + 'a'.repeat(20_000));
    decode.write(huge.subarray(0, 100), huge.subarray(100));
    expect(decode.pushes.map((piece) => piece.length)).toEqual([16_384, huge.length - 16_384]);
    expect(decode.output.equals(huge)).toBe(true);
    // Accepted: the body past the cut is passed on, once.
    const body = Buffer.alloc(20_000, 0x62);
    const accepted = startSession('server', sessionOptions());
    accepted.decode.write(REQUEST.subarray(0, 10), Buffer.concat([REQUEST.subarray(10), body]));
    expect(accepted.decode.output.equals(Buffer.concat([ascii('PAYLOAD'), body]))).toBe(true);
  });

  it('relays a peer that closes before a verdict instead of dropping it', () => {
    const { ctx, decode } = startSession('server', sessionOptions({ failover: FAILOVER }));
    decode.write(ascii('GET')).end();
    expect(ctx.redirects).toEqual([FAILOVER]);
    expect(decode.output.toString()).toBe('GET');
    const silent = startSession('server', sessionOptions({ failover: FAILOVER }));
    silent.decode.end();
    expect(silent.ctx.redirects).toEqual([]);
  });

  it('relays a stalled first packet when the handshake deadline passes', () => {
    const { ctx, decode } = startSession('server', sessionOptions({ failover: FAILOVER }));
    expect(decode.expire()).toBe(false);
    decode.write(ascii('GET / HTTP/1.1\r\nHost: x\r\n'));
    expect(decode.expire()).toBe(true);
    expect(ctx.redirects).toEqual([FAILOVER]);
    expect(decode.output.toString()).toBe('GET / HTTP/1.1\r\nHost: x\r\n');
  });

  it('reverse_proxy: responds with an empty-body 101 at once, then upstream bytes go raw', () => {
    const { ctx, encode, decode } = startSession('server', sessionOptions({ reverseProxy: true }));
    decode.write(REQUEST);
    expect(ctx.responses).toHaveLength(1);
    expect(ctx.responses[0]!.toString('latin1')).toMatch(
      /^HTTP\/1\.1 101 Switching Protocols\r\n[^]*\r\n\r\n$/,
    );
    encode.write(ascii('world'));
    expect(encode.output.toString()).toBe('world');
  });

  it('never answers before the verdict: early upstream bytes wait, then go out behind the 101', () => {
    const { ctx, encode, decode } = startSession('server', sessionOptions());
    encode.write(ascii('EARLY'));
    expect(encode.pushes).toHaveLength(0);
    decode.write(REQUEST);
    expect(ctx.responses).toHaveLength(1);
    expect(ctx.responses[0]!.toString('latin1')).toMatch(/^HTTP\/1\.1 101[^]*\r\n\r\nEARLY$/);
    encode.write(ascii('LATER'));
    expect(encode.output.toString()).toBe('LATER');
  });

  it('refuses more than 64 KiB of early upstream bytes with a ProtocolError', () => {
    const { encode } = startSession('server', sessionOptions());
    encode.write(Buffer.alloc(65_536));
    expect(() => encode.write(ascii('x'))).toThrow(
      expect.objectContaining({
        code: 'SIP003_PROTOCOL',
        message:
          'upstream bytes before the handshake verdict: more than 65536 bytes (65537 received)',
      }),
    );
  });
});

describe('server session, tls', () => {
  const startTls = (failover = true) =>
    startSession(
      'server',
      sessionOptions({
        obfs: 'tls',
        reverseProxy: true,
        ...(failover ? { failover: FAILOVER } : {}),
      }),
    );

  it('accepts, passes ticket and records on, answers with the echoed session id', () => {
    const hello = buildClientHello(ascii('www.example.com'), ascii('PAYLOAD')).packet;
    const { ctx, encode, decode } = startTls();
    decode.write(Buffer.concat([hello, record('REC1')]), record('REC2'));
    expect(decode.output.toString()).toBe('PAYLOADREC1REC2');
    expect(ctx.responses).toEqual([]); // reverse_proxy has no effect in TLS mode
    encode.write(Buffer.alloc(100000, 0x75));
    const flight = encode.pushes[0]!;
    expect(flight.length).toBe(107 + 16384);
    expect(flight.subarray(44, 76).equals(hello.subarray(44, 76))).toBe(true);
    // Like 0.0.5's 100000-byte download (§1): Finished 16384, records 16384 x 5 + 1696.
    const records = encode.pushes
      .slice(1)
      .filter((_, i) => i % 2 === 1)
      .map((p) => p.length);
    expect(records).toEqual([16384, 16384, 16384, 16384, 16384, 1696]);
  });

  it('treats a framing error inside the first packet as a rejection, forwarding the original bytes', () => {
    const hello = buildClientHello(ascii('www.example.com'), ascii('PAYLOAD')).packet;
    const first = Buffer.concat([hello, ascii('RAWDATA-NOT-FRAMED')]);
    const { ctx, decode } = startTls();
    decode.write(first);
    expect(ctx.redirects).toEqual([FAILOVER]);
    expect(decode.output.equals(first)).toBe(true);
  });

  it('closes the connection on a framing error after acceptance (0.0.5 forwards garbage)', () => {
    const hello = buildClientHello(ascii('www.example.com'), ascii('PAYLOAD')).packet;
    const { ctx, decode } = startTls(false);
    decode.write(hello);
    expect(() => decode.write(ascii('RAWDATA'))).toThrow(ProtocolError);
    expect(ctx.redirects).toEqual([]);
    expect(decode.output.toString()).toBe('PAYLOAD');
  });

  it('throws ProtocolError when the client ends inside a record', () => {
    const hello = buildClientHello(ascii('www.example.com'), ascii('P')).packet;
    const { decode } = startTls();
    decode.write(hello, record('HALF').subarray(0, 6));
    expect(() => decode.end()).toThrow(ProtocolError);
  });
});

describe('assertObfsSessionOptions', () => {
  it('accepts good options and names the bad value otherwise', () => {
    expect(() => assertObfsSessionOptions(sessionOptions())).not.toThrow();
    expect(() => assertObfsSessionOptions(sessionOptions({ obfs: 'tls' }))).not.toThrow();
    expect(() => assertObfsSessionOptions(sessionOptions({ httpMethod: 'G ET' }))).toThrow(
      'HTTP method must be a token',
    );
    expect(() =>
      assertObfsSessionOptions(sessionOptions({ obfs: 'tls', obfsHost: 'x'.repeat(300) })),
    ).toThrow('obfs-host must be 1 to 255 bytes for the SNI, got 300');
    expect(() => assertObfsSessionOptions(sessionOptions({ obfsHost: 'x'.repeat(250) }))).toThrow(
      'Host header must be at most 255 bytes, got 256',
    );
  });
});

describe('both directions under every split (checkCodecSplits)', () => {
  const samples = [Buffer.alloc(0), ascii('x'), seededBytes(seededRandom(9), 600)];
  const session = (mode: 'client' | 'server', obfs: 'http' | 'tls') =>
    createObfsSession(fakeContext(mode), sessionOptions({ obfs }));
  /** A server session that has accepted a client's first packet, so its encoder answers. */
  const acceptedServer = (obfs: 'http' | 'tls') => {
    const client = startSession('client', sessionOptions({ obfs }));
    client.encode.write(ascii('hi'));
    const server = startSession('server', sessionOptions({ obfs }));
    server.decode.write(client.encode.output);
    if (server.decode.output.toString() !== 'hi') throw new Error('handshake not accepted');
    return server.session;
  };

  for (const obfs of ['http', 'tls'] as const) {
    it(`${obfs}: client to server`, async () => {
      const report = await checkCodecSplits(
        () => asCodec(session('client', obfs).encode),
        () => asCodec(session('server', obfs).decode),
        samples,
      );
      expect(report.runs).toBeGreaterThan(1200);
    });

    it(`${obfs}: server to client`, async () => {
      const report = await checkCodecSplits(
        () => asCodec(acceptedServer(obfs).encode),
        () => asCodec(session('client', obfs).decode),
        samples,
      );
      expect(report.runs).toBeGreaterThan(1200);
    });
  }
});
