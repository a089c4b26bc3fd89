// A reset is passed on as a reset, never as a clean end (issue 9 item 3), through a real plugin
// pair on loopback: the noop plugin (the SDK's plain relay) and obfs http and tls. libuv reports
// an RST that arrives with the last data as a plain end half the time or more, so each case runs
// 20 trials and every one must end in a reset.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Plugin } from '@sip003/sdk';
import { endedByReset, startPluginPair, type PluginPair } from '@sip003/sdk/testing';
import noopPlugin from '../../noop-plugin/src/index.ts';
import obfsHttpPlugin from '../src/index.ts';

const TRIALS = 20;
const PAYLOAD = Buffer.alloc(256 * 1024, 0x5a);

type Ending = 'end' | 'reset';

/** How a socket's read side ends: with a FIN, or reset (an error, a close without an end). */
function ending(socket: Socket): Promise<Ending> {
  return new Promise((resolve) => {
    socket.on('end', () => resolve(endedByReset(socket) ? 'reset' : 'end'));
    socket.on('error', () => resolve('reset'));
    socket.on('close', () => resolve('reset'));
    socket.resume();
  });
}

/** Upstream: hands each accepted socket to the current trial. */
let upstream: Server;
let onUpstream: (socket: Socket) => void = () => undefined;
const upstreamSockets = new Set<Socket>();
beforeAll(async () => {
  upstream = createServer({ allowHalfOpen: true }, (socket) => {
    upstreamSockets.add(socket);
    socket.on('error', () => undefined);
    onUpstream(socket);
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
});
afterAll(async () => {
  for (const socket of upstreamSockets) socket.destroy();
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
});

/** Runs `trial` TRIALS times, one after the other; counts how each ended. */
async function count(trial: () => Promise<Ending>): Promise<Record<Ending, number>> {
  const counts = { end: 0, reset: 0 };
  for (let i = 0; i < TRIALS; i++) counts[await trial()]++;
  return counts;
}

/** Upstream sends a burst and resets: the client must see the reset. */
async function upstreamResets(pair: PluginPair<unknown>): Promise<Ending> {
  onUpstream = (socket) => {
    socket.once('data', () => {
      socket.write(PAYLOAD);
      socket.resetAndDestroy();
    });
  };
  const client = await pair.connect();
  const ended = ending(client);
  client.write('GET');
  return ended;
}

/** The client uploads and resets once upstream has data: upstream must see the reset. */
async function clientResets(pair: PluginPair<unknown>, afterUpstreamFin: boolean): Promise<Ending> {
  let upstreamEnding!: Promise<Ending>;
  const upstreamReading = new Promise<void>((resolve) => {
    onUpstream = (socket) => {
      upstreamEnding = ending(socket);
      socket.once('data', () => resolve());
      if (afterUpstreamFin) socket.end('bye');
    };
  });
  const client = await pair.connect();
  client.on('error', () => undefined);
  if (afterUpstreamFin) {
    const clientEnded = once(client, 'end');
    client.resume();
    client.write('GET');
    await clientEnded;
  }
  client.write(PAYLOAD);
  await upstreamReading;
  client.write(PAYLOAD);
  client.resetAndDestroy();
  return upstreamEnding;
}

const cases: [string, Plugin, Record<string, string>][] = [
  ['noop', noopPlugin, {}],
  ['obfs=http', obfsHttpPlugin as unknown as Plugin, { obfs: 'http' }],
  ['obfs=tls', obfsHttpPlugin as unknown as Plugin, { obfs: 'tls' }],
];

describe.each(cases)('%s: a reset reaches the other side as a reset', (_name, plugin, options) => {
  let pair: PluginPair<unknown>;
  beforeAll(async () => {
    pair = await startPluginPair(plugin, {
      target: { port: (upstream.address() as AddressInfo).port },
      options,
    });
  });
  afterAll(async () => {
    await pair.close();
  });

  it(`upstream RST mid-download reaches the client as an RST (${TRIALS} trials)`, async () => {
    expect(await count(() => upstreamResets(pair))).toEqual({ end: 0, reset: TRIALS });
  });

  it(`client RST mid-upload reaches upstream as an RST (${TRIALS} trials)`, async () => {
    expect(await count(() => clientResets(pair, false))).toEqual({ end: 0, reset: TRIALS });
  });

  it(`client RST after upstream's FIN reaches upstream as an RST (${TRIALS} trials)`, async () => {
    expect(await count(() => clientResets(pair, true))).toEqual({ end: 0, reset: TRIALS });
  });

  it('ends stay ends: a FIN each way is passed on as a FIN', async () => {
    const upstreamEnding = new Promise<Ending>((resolve) => {
      onUpstream = (socket) => {
        resolve(ending(socket));
        socket.once('end', () => socket.end('bye'));
      };
    });
    const client = await pair.connect();
    client.end('GET');
    expect(await ending(client)).toBe('end');
    expect(await upstreamEnding).toBe('end');
  });
});
