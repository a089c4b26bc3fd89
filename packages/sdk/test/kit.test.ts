import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { describe, it, expect, afterEach } from 'vitest';
import { connectTo, seededBytes, writeChunked } from '../src/testing/index.ts';

describe('writeChunked (test kit)', () => {
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
    return connectTo((server.address() as AddressInfo).port);
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
});
