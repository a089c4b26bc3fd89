// Connection churn: many short connections through a plugin pair, half of them ended by a reset
// mid-stream. Figures: fds and RSS of both plugins before and after (a leak shows as growth).

import { openConnection, startEchoServer } from '../../packages/sdk/dist/testing/index.js';
import { fdCount, rssKiB, startPair } from '../lib/plugins.mjs';
import { kib, sleep, waitFor } from '../lib/measure.mjs';
import { createResult } from '../lib/report.mjs';

/** One connection: 64 bytes out and back, then a FIN (even i) or a reset (odd i). */
async function oneConnection(port, i) {
  const socket = await openConnection(port);
  socket.on('error', () => undefined);
  try {
    const back = new Promise((resolve, reject) => {
      let got = 0;
      const timer = setTimeout(() => reject(new Error('no echo within 10 s')), 10_000);
      socket.on('data', (chunk) => {
        got += chunk.length;
        if (got >= 64) {
          clearTimeout(timer);
          resolve();
        }
      });
      socket.once('close', () => {
        clearTimeout(timer);
        reject(new Error(`closed after ${got} bytes`));
      });
    });
    socket.write(Buffer.alloc(64, i & 0xff));
    await back;
    if (i % 2 === 0) socket.end();
    else socket.resetAndDestroy();
  } finally {
    if (i % 2 === 0) await new Promise((r) => (socket.closed ? r() : socket.once('close', r)));
    socket.destroy();
  }
}

export const churn = {
  name: 'churn',
  about: 'http pair: short echo connections, every other one reset mid-stream',
  async run(profile) {
    const result = createResult();
    const total = profile.short ? 2000 : 20_000;
    const concurrency = 32;
    const echo = await startEchoServer();
    const pair = await startPair('http', echo.port);
    try {
      await sleep(300);
      const pids = { server: pair.server.pid, client: pair.client.pid };
      const before = {
        fds: fdCount(pids.server) + fdCount(pids.client),
        rss: rssKiB(pids.server) + rssKiB(pids.client),
      };
      let next = 0;
      let failures = 0;
      let sample = '';
      const started = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < total) {
            const i = next++;
            await oneConnection(pair.port, i).catch((e) => {
              failures++;
              sample ||= e.message;
            });
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      const fdsNow = () => fdCount(pids.server) + fdCount(pids.client);
      await waitFor(() => fdsNow() <= before.fds, 5000, 100);
      const after = { fds: fdsNow(), rss: rssKiB(pids.server) + rssKiB(pids.client) };
      result.figure(
        `${total} connections in ${seconds.toFixed(1)} s (${Math.round(total / seconds)}/s), ${failures} failed${sample ? ` (${sample})` : ''}`,
      );
      result.figure(
        `both plugins: fds ${before.fds} -> ${after.fds}, RSS ${kib(before.rss)} -> ${kib(after.rss)}`,
      );
      result.check(
        'no fd left behind',
        after.fds <= before.fds,
        String(after.fds),
        `<= ${before.fds}`,
      );
      result.check('every connection echoed', failures === 0, `${failures} failed`, '0');
    } finally {
      await pair.stop();
      await echo.close();
    }
    return result;
  },
};
