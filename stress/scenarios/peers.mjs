// Peers that are slow on purpose or by accident: slowloris on the first packet (defect-free in
// issue 9: dropped or relayed at handshake-timeout), clients and upstreams that stop reading, and
// issue 9 defect 4: an upstream that sends FIN and stops reading. Done when (defect 4): that
// connection is closed by idle-timeout and the plugin holds no socket for it afterwards.

import net from 'node:net';
import {
  openConnection,
  startEchoServer,
  startSourceServer,
} from '../../packages/sdk/dist/testing/index.js';
import { stopProcess } from '../../bench/lib/proc.mjs';
import { fdCount, rssKiB, startPair, startServer } from '../lib/plugins.mjs';
import { kib, ms, rssSlope, sleep, waitFor } from '../lib/measure.mjs';
import { createResult } from '../lib/report.mjs';

const HANDSHAKE_TIMEOUT = 2;
const IDLE_TIMEOUT = 2;

/** Opens `count` connections, `batch` at a time; each one's errors are ignored. */
async function openMany(port, count, batch = 50) {
  const sockets = [];
  for (let i = 0; i < count; i += batch) {
    const opened = await Promise.all(
      Array.from({ length: Math.min(batch, count - i) }, () => openConnection(port)),
    );
    for (const s of opened) s.on('error', () => undefined);
    sockets.push(...opened);
  }
  return sockets;
}

/** Writes until the socket stays full for `stallMs`; resolves the bytes written. */
async function writeUntilStalled(socket, stallMs = 1000, limit = 256 * 1024 * 1024) {
  const chunk = Buffer.alloc(64 * 1024, 0x63);
  let written = 0;
  while (written < limit && !socket.destroyed) {
    written += chunk.length;
    if (socket.write(chunk)) continue;
    const drained = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), stallMs);
      socket.once('drain', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!drained) break;
  }
  return written;
}

export const slowloris = {
  name: 'slowloris',
  about: `http server: first packets that never end, one byte per 500 ms (handshake-timeout=${HANDSHAKE_TIMEOUT})`,
  async run(profile) {
    const result = createResult();
    const count = profile.short ? 100 : 1000;
    const echo = await startEchoServer();
    const server = await startServer('http', echo.port, `handshake-timeout=${HANDSHAKE_TIMEOUT}`);
    try {
      const fdsBefore = fdCount(server.pid);
      const sockets = await openMany(server.port, count);
      let closed = 0;
      for (const s of sockets) s.once('close', () => closed++);
      for (const s of sockets) s.write('GET / HTTP/1.1\r\nX-Slow: ');
      const drip = setInterval(() => {
        for (const s of sockets) if (!s.destroyed) s.write('a');
      }, 500);
      try {
        await sleep(500);
        const fdsDuring = fdCount(server.pid);
        // Out of the handshake: closed by the plugin, or relayed raw to upstream (echo accepted it).
        const took = await waitFor(
          () => closed + echo.accepted >= count,
          HANDSHAKE_TIMEOUT * 1000 + 5000,
          50,
        );
        result.figure(
          `${count} connections: fds ${fdsBefore} -> ${fdsDuring}; out of the handshake after ${ms(took)} (${closed} closed, ${echo.accepted} relayed raw)`,
        );
        result.check(
          `all out of the handshake by handshake-timeout + 2 s`,
          took !== undefined && took <= HANDSHAKE_TIMEOUT * 1000 + 2000,
          took === undefined
            ? `${closed + echo.accepted}/${count} after ${HANDSHAKE_TIMEOUT + 5} s`
            : ms(took),
          `<= ${HANDSHAKE_TIMEOUT + 2} s`,
        );
      } finally {
        clearInterval(drip);
        for (const s of sockets) s.destroy();
      }
      await waitFor(() => fdCount(server.pid) <= fdsBefore, 5000);
      const fdsAfter = fdCount(server.pid);
      result.figure(`fds after the attackers left: ${fdsAfter} (before: ${fdsBefore})`);
      result.check(
        'no socket left behind',
        fdsAfter <= fdsBefore,
        String(fdsAfter),
        `<= ${fdsBefore}`,
      );
    } finally {
      await Promise.all([stopProcess(server.rec), echo.close()]);
    }
    return result;
  },
};

/** Checks a {@link rssSlope} over a pair's [server, client] against the limit. */
function checkSlope(result, what, count, { perConnection, over }, extra = '') {
  const [server, client] = perConnection;
  result.figure(
    `${count} ${what}${extra}: RSS per connection (slope over the second ${over}) server ${kib(server)}, client ${kib(client)}`,
  );
  result.check(
    `${what}: RSS per connection <= ${STALLED_RSS_LIMIT_KIB} KiB on each side`,
    Math.max(server, client) <= STALLED_RSS_LIMIT_KIB,
    `server ${kib(server)}, client ${kib(client)}`,
    `<= ${STALLED_RSS_LIMIT_KIB} KiB`,
  );
}

/** What a stalled connection may cost: the relay's bounded queues, not what the peer offers. */
const STALLED_RSS_LIMIT_KIB = 256;

export const slowPeers = {
  name: 'slow-peers',
  about: 'tls pair: clients that stop reading a download, upstreams that stop reading an upload',
  async run(profile) {
    const result = createResult();
    const count = profile.short ? 200 : 400;
    const pids = (pair) => [pair.server.pid, pair.client.pid];
    // Every socket opened, destroyed at the end of its phase whatever happened.
    const sockets = [];
    const open = async (port, n) => {
      const opened = await openMany(port, n);
      sockets.push(...opened);
      return opened;
    };
    // Non-reading clients: upstream sends 16 MiB to each, the client reads nothing.
    const source = await startSourceServer(16 * 1024 * 1024);
    let pair = await startPair('tls', source.port);
    try {
      await sleep(300);
      const slope = await rssSlope(pids(pair), rssKiB, count, async (n) => {
        for (const s of await open(pair.port, n)) {
          s.pause();
          s.write('x');
        }
      });
      checkSlope(result, 'clients not reading a 16 MiB download', count, slope);
    } finally {
      for (const s of sockets.splice(0)) s.destroy();
      await pair.stop();
      await source.close();
    }
    // Non-reading upstreams: each upstream connection is paused; the client writes until stalled.
    const stalled = net.createServer((socket) => {
      socket.pause();
      socket.on('error', () => undefined);
    });
    await new Promise((r) => stalled.listen(0, '127.0.0.1', r));
    pair = await startPair('tls', stalled.address().port);
    try {
      await sleep(300);
      const slope = await rssSlope(pids(pair), rssKiB, count, async (n) =>
        Promise.all((await open(pair.port, n)).map((s) => writeUntilStalled(s))),
      );
      const written = slope.opened.flat().reduce((a, b) => a + b, 0);
      checkSlope(
        result,
        'uploads into upstreams that do not read',
        count,
        slope,
        ` (${kib(written / count / 1024)} written each before the stall)`,
      );
    } finally {
      for (const s of sockets.splice(0)) s.destroy();
      await pair.stop();
      stalled.close();
    }
    return result;
  },
};

export const finAndStop = {
  name: 'fin-and-stop',
  about: `noop server: upstream sends FIN and stops reading; the client sends until stalled, then leaves (idle-timeout=${IDLE_TIMEOUT})`,
  async run(profile) {
    const result = createResult();
    const count = profile.short ? 4 : 16;
    const upstreamSockets = new Set();
    const upstream = net.createServer({ allowHalfOpen: true }, (socket) => {
      upstreamSockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => upstreamSockets.delete(socket));
      socket.once('data', () => {
        socket.pause();
        socket.end();
      });
    });
    await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
    const server = await startServer(
      'noop',
      upstream.address().port,
      `idle-timeout=${IDLE_TIMEOUT}`,
    );
    try {
      const fdsBefore = fdCount(server.pid);
      const sockets = await openMany(server.port, count);
      let closed = 0;
      for (const s of sockets) s.once('close', () => closed++);
      const written = await Promise.all(sockets.map((s) => writeUntilStalled(s)));
      // The client is done and leaves (as in the issue): what the plugin still holds for
      // upstream can never be delivered, and only a deadline can free it.
      for (const s of sockets) s.destroy();
      const stalledAt = performance.now();
      const fdsStalled = fdCount(server.pid);
      // The plugin must close both sides once nothing moved for idle-timeout.
      const took = await waitFor(
        () => fdCount(server.pid) <= fdsBefore,
        IDLE_TIMEOUT * 1000 + 8000,
        100,
      );
      const sinceStall = took === undefined ? undefined : performance.now() - stalledAt;
      result.figure(
        `${count} connections, ${kib(written[0] / 1024)} written each before the stall: plugin fds ${fdsBefore} -> ${fdsStalled} -> ${fdCount(server.pid)}; ${closed}/${count} client sockets closed; back to ${fdsBefore} fds ${sinceStall === undefined ? `not within ${IDLE_TIMEOUT + 8} s` : `after ${ms(sinceStall)}`}`,
      );
      result.check(
        'closed by idle-timeout, no socket left',
        sinceStall !== undefined && sinceStall <= IDLE_TIMEOUT * 1000 + 3000,
        sinceStall === undefined
          ? `still ${fdCount(server.pid) - fdsBefore} fds after ${IDLE_TIMEOUT + 8} s`
          : ms(sinceStall),
        `<= idle-timeout + 3 s`,
      );
      for (const s of sockets) s.destroy();
    } finally {
      await stopProcess(server.rec);
      for (const s of upstreamSockets) s.destroy();
      upstream.close();
    }
    return result;
  },
};
