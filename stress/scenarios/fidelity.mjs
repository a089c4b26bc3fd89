// Issue 9 defect 3: a reset must arrive as a reset, never as a clean end (a truncated download or
// upload would look complete). 20 trials each way for noop, http and tls. Done when: 0 of 20
// trials turn an RST into a FIN.

import net from 'node:net';
import { endedByReset, openConnection } from '../../packages/sdk/dist/testing/index.js';
import { startPair } from '../lib/plugins.mjs';
import { sleep } from '../lib/measure.mjs';
import { createResult } from '../lib/report.mjs';

const BURST = Buffer.alloc(64 * 1024, 0x62);

/**
 * How a socket ended: 'fin' when a real end arrives (the peer closed cleanly, whatever follows),
 * 'reset' on an error or a close without an end, 'open' when nothing happened within `ms`.
 * The sockets allow half-open, so an end does not close them: it is counted when it arrives.
 */
function ending(socket, ms) {
  return new Promise((resolve) => {
    const done = (how) => {
      clearTimeout(timer);
      resolve(how);
    };
    const timer = setTimeout(() => done('open'), ms);
    socket.on('data', () => undefined);
    // Node may report an RST as an end on this side too: ask the kernel (endedByReset).
    socket.once('end', () => done(endedByReset(socket) ? 'reset' : 'fin'));
    socket.once('error', () => done('reset'));
    socket.once('close', () => done('reset'));
  });
}

/** An upstream server handing each connection to `onConnection`. */
async function upstream(onConnection) {
  const sockets = new Set();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    // A half-open socket keeps no event-loop reference but does keep server.close() waiting.
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

async function trials(kind, count) {
  const counts = { download: { fin: 0, reset: 0, open: 0 }, upload: { fin: 0, reset: 0, open: 0 } };
  // Upstream RST mid-download: it answers the first byte with 64 KiB, then resets.
  const resetter = await upstream((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => {
      socket.write(BURST);
      setImmediate(() => socket.resetAndDestroy());
    });
  });
  let pair = await startPair(kind, resetter.port, 'idle-timeout=10');
  try {
    for (let i = 0; i < count; i++) {
      const client = await openConnection(pair.port);
      const end = ending(client, 5000);
      client.write('go');
      counts.download[await end]++;
      client.destroy();
    }
  } finally {
    await pair.stop();
    await resetter.close();
  }
  // Client RST mid-upload: once upstream has bytes, the client resets; upstream says what it saw.
  let seen;
  const sink = await upstream((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => seen.got());
    void ending(socket, 5000).then((how) => {
      seen.ended(how);
      socket.destroy();
    });
  });
  pair = await startPair(kind, sink.port, 'idle-timeout=10');
  try {
    for (let i = 0; i < count; i++) {
      const outcome = new Promise((resolve, reject) => {
        const timer = setTimeout(() => resolve('open'), 8000);
        seen = {
          got: () => client.then((c) => c.resetAndDestroy(), reject),
          ended: (how) => {
            clearTimeout(timer);
            resolve(how);
          },
        };
      });
      const client = openConnection(pair.port);
      const c = await client;
      c.on('error', () => undefined);
      c.write(BURST);
      counts.upload[await outcome]++;
      c.destroy();
      await sleep(10);
    }
  } finally {
    await pair.stop();
    await sink.close();
  }
  return counts;
}

export const rstFidelity = {
  name: 'rst-fidelity',
  about: 'noop, http, tls: upstream RST mid-download and client RST mid-upload, 20 trials each',
  async run(profile) {
    const result = createResult();
    const count = 20;
    for (const kind of ['noop', 'http', 'tls']) {
      const c = await trials(kind, count);
      for (const way of ['download', 'upload']) {
        const who =
          way === 'download' ? 'upstream RST reached the client' : 'client RST reached upstream';
        result.figure(
          `${kind}: ${who} as reset ${c[way].reset}, as FIN ${c[way].fin}, not at all ${c[way].open} (of ${count})`,
        );
        result.check(
          `${kind} ${way}: RST passed on as FIN`,
          c[way].fin === 0 && c[way].open === 0,
          `${c[way].fin}/${count} FIN, ${c[way].open} open`,
          '0/20',
        );
      }
    }
    void profile;
    return result;
  },
};
