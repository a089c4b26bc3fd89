import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { describe, it, expect, afterEach } from 'vitest';
import { socks5Connect } from '../src/testing/index.ts';

/** A SOCKS port that runs `behave` on each accepted socket after reading `readFirst` bytes. */
async function fakeProxy(readFirst: number, behave: (s: Socket) => void): Promise<Server> {
  const server = createServer((s) => {
    s.on('error', () => undefined);
    let got = 0;
    s.on('data', (c: Buffer) => {
      const before = got;
      got += c.length;
      if (before < readFirst && got >= readFirst) behave(s);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

describe('socks5Connect (test kit)', () => {
  let server: Server | undefined;
  const uncaught: Error[] = [];
  const onUncaught = (e: Error): void => {
    uncaught.push(e);
  };
  afterEach(async () => {
    process.off('uncaughtException', onUncaught);
    uncaught.length = 0;
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  it('rejects, with no uncaught error, when the proxy resets during the greeting', async () => {
    process.on('uncaughtException', onUncaught);
    server = await fakeProxy(3, (s) => s.resetAndDestroy());
    const { port } = server.address() as AddressInfo;
    await expect(socks5Connect(port, '127.0.0.1', 9, 2000)).rejects.toThrow(/ECONNRESET/);
    // Give a late 'error' event the chance to surface before checking.
    await new Promise((r) => setTimeout(r, 50));
    expect(uncaught).toEqual([]);
  });

  it('rejects, with no uncaught error, when the proxy resets after accepting the greeting', async () => {
    process.on('uncaughtException', onUncaught);
    server = await fakeProxy(3, (s) => {
      s.write(Buffer.from([5, 0]));
      setTimeout(() => s.resetAndDestroy(), 20);
    });
    const { port } = server.address() as AddressInfo;
    await expect(socks5Connect(port, '127.0.0.1', 9, 2000)).rejects.toThrow(/ECONNRESET/);
    await new Promise((r) => setTimeout(r, 50));
    expect(uncaught).toEqual([]);
  });

  it('rejects when the proxy closes cleanly, and on a refused CONNECT', async () => {
    server = await fakeProxy(3, (s) => s.end());
    const closed = (server.address() as AddressInfo).port;
    await expect(socks5Connect(closed, '127.0.0.1', 9, 2000)).rejects.toThrow(
      /proxy closed the connection/,
    );
    await new Promise<void>((r) => server!.close(() => r()));
    server = await fakeProxy(3, (s) => {
      s.write(Buffer.from([5, 0]));
      s.once('data', () => s.write(Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0])));
    });
    const refused = (server.address() as AddressInfo).port;
    await expect(socks5Connect(refused, '127.0.0.1', 9, 2000)).rejects.toThrow(
      /CONNECT refused with code 5/,
    );
  });

  it.each([
    ['127.0.0.1', '01 7f000001'],
    ['::1', '04 00000000000000000000000000000001'],
    ['[2001:db8::a:1]', '04 20010db80000000000000000000a0001'],
    ['fe80::1:2:3:4:5:6', '04 fe800000000100020003000400050006'],
    ['::ffff:1.2.3.4', '04 00000000000000000000ffff01020304'],
    ['1:2:3:4:5:6:7:8', '04 00010002000300040005000600070008'],
    ['localhost', '03 09 6c6f63616c686f7374'],
  ])(
    'asks for %s as ATYP/ADDR %s and reads a reply of each address type exactly',
    async (host, want) => {
      const replies = [
        Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 9]),
        Buffer.concat([Buffer.from([5, 0, 0, 4]), Buffer.alloc(16), Buffer.from([0, 9])]),
        Buffer.from([5, 0, 0, 3, 2, 0x68, 0x69, 0, 9]),
      ];
      for (const reply of replies) {
        const requests: Buffer[] = [];
        server = await fakeProxy(3, (s) => {
          s.write(Buffer.from([5, 0]));
          s.once('data', (request: Buffer) => {
            requests.push(request);
            // The reply and the first tunnelled bytes in one segment: nothing may be eaten.
            s.write(Buffer.concat([reply, Buffer.from('early')]));
          });
        });
        const { port } = server.address() as AddressInfo;
        const tunnel = await socks5Connect(port, host, 9, 2000);
        const [first] = (await once(tunnel, 'data')) as [Buffer];
        expect(first.toString()).toBe('early');
        tunnel.destroy();
        expect(requests[0]!.subarray(0, 3).toString('hex')).toBe('050100');
        expect(requests[0]!.subarray(3).toString('hex')).toBe(`${want.replaceAll(' ', '')}0009`);
        await new Promise<void>((r) => server!.close(() => r()));
        server = undefined;
      }
    },
  );

  it('returns a usable tunnel once the proxy answers both steps', async () => {
    server = await fakeProxy(3, (s) => {
      s.write(Buffer.from([5, 0]));
      s.once('data', () => {
        s.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 9]));
        s.on('data', (c: Buffer) => s.write(c));
      });
    });
    const { port } = server.address() as AddressInfo;
    const tunnel = await socks5Connect(port, '127.0.0.1', 9, 2000);
    expect(tunnel.listenerCount('error')).toBe(0);
    tunnel.write('hello');
    const [echo] = (await once(tunnel, 'data')) as [Buffer];
    expect(echo.toString()).toBe('hello');
    tunnel.destroy();
  });
});
