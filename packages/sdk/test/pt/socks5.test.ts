import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { describe, it, expect, afterEach } from 'vitest';
import { formatPtArgs, socks5Dial, socksAddress } from '../../src/pt/index.ts';
import { collect } from '../../src/testing/index.ts';

interface Seen {
  methods: number[];
  user?: Buffer;
  pass?: Buffer;
  request?: Buffer;
}

interface FakeSocks {
  port: number;
  seen: Seen[];
  server: Server;
}

/**
 * A SOCKS5 server that records what a client sends: picks username/password when offered, answers
 * the auth with `authStatus`, the CONNECT with `reply`, then writes `after` at once (bytes the far
 * end sends right after the grant). `silent` never answers the greeting.
 */
async function fakeSocks({
  authStatus = 0,
  reply = 0,
  after = Buffer.alloc(0),
  silent = false,
} = {}): Promise<FakeSocks> {
  const seen: Seen[] = [];
  const server = createServer((s) => {
    s.on('error', () => undefined);
    open.add(s);
    s.on('close', () => open.delete(s));
    const record: Seen = { methods: [] };
    seen.push(record);
    let buffer = Buffer.alloc(0);
    let step: 'greeting' | 'auth' | 'request' | 'open' = 'greeting';
    s.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (silent) return;
      if (step === 'greeting' && buffer.length >= 2 && buffer.length >= 2 + buffer[1]!) {
        record.methods = [...buffer.subarray(2, 2 + buffer[1]!)];
        buffer = buffer.subarray(2 + buffer[1]!);
        const auth = record.methods.includes(2);
        s.write(Buffer.from([5, auth ? 2 : 0]));
        step = auth ? 'auth' : 'request';
      }
      if (step === 'auth' && buffer.length >= 2) {
        const ulen = buffer[1]!;
        if (buffer.length < 3 + ulen) return;
        const plen = buffer[2 + ulen]!;
        if (buffer.length < 3 + ulen + plen) return;
        record.user = buffer.subarray(2, 2 + ulen);
        record.pass = buffer.subarray(3 + ulen, 3 + ulen + plen);
        buffer = buffer.subarray(3 + ulen + plen);
        s.write(Buffer.from([1, authStatus]));
        step = 'request';
      }
      if (step === 'request' && buffer.length >= 5) {
        const atyp = buffer[3]!;
        const len = atyp === 1 ? 4 : atyp === 4 ? 16 : 1 + buffer[4]!;
        if (buffer.length < 4 + len + 2) return;
        record.request = buffer.subarray(0, 4 + len + 2);
        buffer = buffer.subarray(4 + len + 2);
        s.write(Buffer.concat([Buffer.from([5, reply, 0, 1, 127, 0, 0, 1, 0x1f, 0x90]), after]));
        step = 'open';
        if (reply === 0) s.end();
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return { port: (server.address() as AddressInfo).port, seen, server };
}

const servers: Server[] = [];
const open = new Set<Socket>();
afterEach(async () => {
  for (const s of open) s.destroy();
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

const proxy = (port: number) => ({ host: '127.0.0.1', port });

describe('socks5Dial', () => {
  it('sends PT arguments as UNAME with a one-NUL PASSWD (pt-spec 3.5) and keeps early bytes', async () => {
    const fake = await fakeSocks({ after: Buffer.from('early bytes') });
    const socket = await socks5Dial({
      proxy: proxy(fake.port),
      target: { host: '192.0.2.7', port: 443 },
      args: { cert: 'AbC+/x', 'iat-mode': '0' },
    });
    const rest = await collect(socket, 5000);
    expect(rest.toString()).toBe('early bytes');
    const [seen] = fake.seen as [Seen];
    expect(seen.methods).toEqual([2]);
    expect(seen.user?.toString()).toBe('cert=AbC+/x;iat-mode=0');
    expect(seen.pass).toEqual(Buffer.from([0]));
    expect(seen.request).toEqual(Buffer.from([5, 1, 0, 1, 192, 0, 2, 7, 1, 187]));
  });

  it('escapes backslash, equal sign and semicolon, and splits arguments past 255 bytes', async () => {
    expect(formatPtArgs({ k: 'a;b=c\\d', 'x=y': '1' })).toBe('k=a\\;b\\=c\\\\d;x\\=y=1');
    const fake = await fakeSocks();
    const long = 'z'.repeat(300);
    const socket = await socks5Dial({
      proxy: proxy(fake.port),
      target: { host: 'example.com', port: 80 },
      args: { long },
    });
    socket.destroy();
    const [seen] = fake.seen as [Seen];
    const all = `long=${long}`;
    expect(seen.user?.toString()).toBe(all.slice(0, 255));
    expect(seen.pass?.toString()).toBe(all.slice(255));
    expect(seen.request).toEqual(
      Buffer.concat([
        Buffer.from([5, 1, 0, 3, 11]),
        Buffer.from('example.com'),
        Buffer.from([0, 80]),
      ]),
    );
  });

  it('offers no authentication without arguments, and encodes IPv6 targets', async () => {
    const fake = await fakeSocks();
    (
      await socks5Dial({ proxy: proxy(fake.port), target: { host: '[::ffff:1.2.3.4]', port: 1 } })
    ).destroy();
    expect(fake.seen[0]!.methods).toEqual([0]);
    expect(socksAddress('2001:db8::1')).toEqual(
      Buffer.from([4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
    );
    expect(fake.seen[0]!.request!.subarray(3, 20)).toEqual(
      Buffer.from([4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4]),
    );
  });

  it('rejects with SIP003_DIAL_FAILED naming the reply, the refused arguments, or the deadline', async () => {
    const refused = await fakeSocks({ reply: 5 });
    await expect(
      socks5Dial({ proxy: proxy(refused.port), target: { host: '10.0.0.1', port: 9 } }),
    ).rejects.toMatchObject({
      code: 'SIP003_DIAL_FAILED',
      message: expect.stringMatching(
        /CONNECT refused with code 5 \(connection refused\) for 10\.0\.0\.1:9$/,
      ),
    });
    const badAuth = await fakeSocks({ authStatus: 1 });
    await expect(
      socks5Dial({
        proxy: proxy(badAuth.port),
        target: { host: '10.0.0.1', port: 9 },
        args: { a: 'b' },
      }),
    ).rejects.toThrow(/refused the PT arguments \(status 1\)/);
    const silent = await fakeSocks({ silent: true });
    const t0 = performance.now();
    await expect(
      socks5Dial({
        proxy: proxy(silent.port),
        target: { host: '10.0.0.1', port: 9 },
        timeoutMs: 200,
      }),
    ).rejects.toThrow(/no tunnel to 10\.0\.0\.1:9 within 0\.2 s/);
    expect(performance.now() - t0).toBeLessThan(3000);
  });

  it('an abort destroys the dial at once', async () => {
    const silent = await fakeSocks({ silent: true });
    const controller = new AbortController();
    const closed: Socket[] = [];
    silent.server.on('connection', (s: Socket) => s.on('close', () => closed.push(s)));
    const dial = socks5Dial({
      proxy: proxy(silent.port),
      target: { host: '10.0.0.1', port: 9 },
      signal: controller.signal,
    });
    for (let i = 0; i < 200 && silent.seen.length === 0; i++)
      await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    await expect(dial).rejects.toThrow(/dial aborted/);
    for (let i = 0; i < 200 && closed.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(closed).toHaveLength(1);
  });

  it('rejects, without an uncaught error, when nothing listens', async () => {
    const fake = await fakeSocks();
    const port = fake.port;
    await new Promise<void>((r) => fake.server.close(() => r()));
    servers.splice(servers.indexOf(fake.server), 1);
    await expect(
      socks5Dial({ proxy: proxy(port), target: { host: '10.0.0.1', port: 9 } }),
    ).rejects.toMatchObject({
      code: 'SIP003_DIAL_FAILED',
      message: expect.stringMatching(/ECONNREFUSED/),
    });
  });
});
