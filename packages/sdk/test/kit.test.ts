import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { describe, it, expect, afterEach } from 'vitest';
import {
  collect,
  openConnection,
  hashStream,
  seededBytes,
  sha256,
  writeChunked,
} from '../src/testing/index.ts';

describe('test kit: writeChunked, collect, hashStream', () => {
  let server: Server | undefined;
  const accepted: Socket[] = [];
  afterEach(async () => {
    for (const s of accepted.splice(0)) s.destroy();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  /** A peer that reads nothing, so a large write fills the buffers and waits for 'drain'. */
  async function stalledPeer(onAccept: (s: Socket) => void = () => undefined): Promise<Socket> {
    server = createServer((s) => {
      s.on('error', () => undefined);
      s.pause();
      accepted.push(s);
      onAccept(s);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return openConnection((server.address() as AddressInfo).port);
  }

  /** Settles with the outcome of `p`, or "still waiting" after `ms`. */
  function within(p: Promise<unknown>, ms: number): Promise<string> {
    return Promise.race([
      p.then(
        () => 'resolved',
        (e: unknown) => `rejected: ${(e as Error).message}`,
      ),
      new Promise<string>((r) => setTimeout(() => r('still waiting'), ms)),
    ]);
  }

  it('rejects, not hangs, when its own socket is destroyed while it waits for drain', async () => {
    const socket = await stalledPeer();
    const writing = writeChunked(socket, seededBytes(64 * 1024 * 1024), [65536]);
    setTimeout(() => socket.destroy(), 200); // what a timed-out reader (collect) does
    expect(await within(writing, 3000)).toMatch(
      /^rejected: writeChunked: the socket closed after \d+ of 67108864 bytes$/,
    );
  });

  it('rejects when the peer resets while it waits for drain', async () => {
    const socket = await stalledPeer((s) => setTimeout(() => s.resetAndDestroy(), 200));
    const writing = writeChunked(socket, seededBytes(64 * 1024 * 1024), [65536]);
    expect(await within(writing, 3000)).toMatch(/^rejected: .*(ECONNRESET|EPIPE|closed after)/);
    socket.destroy();
  });

  it('collect and hashStream reject at once when the socket is destroyed before its end', async () => {
    for (const read of [collect, hashStream] as const) {
      const socket = await stalledPeer((s) => s.write('partial'));
      const reading = read(socket, 30_000);
      await once(socket, 'data');
      socket.destroy();
      expect(await within(reading, 1000)).toMatch(
        /^rejected: \w+: the socket closed before its end/,
      );
      for (const s of accepted.splice(0)) s.destroy();
      await new Promise<void>((r) => server!.close(() => r()));
      server = undefined;
    }
  });

  it('collect and hashStream still resolve on a clean end', async () => {
    const first = await stalledPeer((s) => s.end('all of it'));
    expect((await collect(first, 5000)).toString()).toBe('all of it');
    first.destroy();
    await new Promise<void>((r) => server!.close(() => r()));
    const second = await stalledPeer((s) => s.end('all of it'));
    expect(await hashStream(second, 5000)).toEqual({
      sha256: sha256(Buffer.from('all of it')),
      bytes: 9,
    });
    second.destroy();
  });
});
