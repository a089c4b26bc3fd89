// max-connections: overflow is refused, and freed slots are usable again at once. With
// workers=2 (issue 9 defect 7) the limit applies per worker, and a full worker that wins the
// accept refuses while the other has room.

import { openConnection, startEchoServer } from '../../packages/sdk/dist/testing/index.js';
import { stopProcess } from '../../bench/lib/proc.mjs';
import { startServer } from '../lib/plugins.mjs';
import { sleep } from '../lib/measure.mjs';
import { createResult } from '../lib/report.mjs';

const LIMIT = 20;

/** Connects and sends a byte; resolves the socket when the echo answers, else undefined. */
async function admitted(port) {
  const socket = await openConnection(port).catch(() => undefined);
  if (socket === undefined) return undefined;
  socket.on('error', () => undefined);
  const ok = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 2000);
    socket.once('data', () => {
      clearTimeout(timer);
      resolve(true);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(false);
    });
    socket.write('x');
  });
  if (ok) return socket;
  socket.destroy();
  return undefined;
}

async function overflow(workers) {
  const echo = await startEchoServer();
  const server = await startServer(
    'noop',
    echo.port,
    `max-connections=${LIMIT};workers=${workers}`,
  );
  try {
    // One at a time, so cluster's round robin spreads them over the workers.
    const tries = [];
    for (let i = 0; i < LIMIT + 10; i++) tries.push(await admitted(server.port));
    const held = tries.filter((s) => s !== undefined);
    // Free 10 slots, then 10 new connections must all get in.
    for (const s of held.splice(0, 10)) s.destroy();
    await sleep(300);
    const again = [];
    for (let i = 0; i < 10; i++) again.push(await admitted(server.port));
    const readmitted = again.filter((s) => s !== undefined).length;
    for (const s of [...held, ...again]) s?.destroy();
    return {
      held: tries.filter((s) => s !== undefined).length,
      refused: tries.filter((s) => s === undefined).length,
      readmitted,
    };
  } finally {
    await stopProcess(server.rec);
    await echo.close();
  }
}

export const maxConnections = {
  name: 'max-connections',
  about: `noop server, max-connections=${LIMIT}: ${LIMIT + 10} one after another, then 10 more after freeing 10; workers=1 and 2`,
  async run() {
    const result = createResult();
    for (const workers of [1, 2]) {
      const r = await overflow(workers);
      result.figure(
        `workers=${workers}: ${r.held} admitted, ${r.refused} refused of ${LIMIT + 10}; after freeing 10, ${r.readmitted}/10 new admitted`,
      );
      result.check(
        `workers=${workers}: exactly ${LIMIT} admitted`,
        r.held === LIMIT,
        String(r.held),
        String(LIMIT),
      );
      result.check(
        `workers=${workers}: freed slots usable at once`,
        r.readmitted === 10,
        `${r.readmitted}/10`,
        '10/10',
      );
    }
    return result;
  },
};
