// Stopping: SIGTERM while connections carry traffic (drain, then exit 0), and the host killed
// with SIGKILL (issue 9 defect 5): a SIP003 plugin must notice and stop, with stdin a pipe (ss-libev)
// or /dev/null (shadowsocks-rust), with one process or workers=2. Done when: workers=2 + stdin
// /dev/null + host SIGKILL, every plugin process gone within 1 s.

import {
  isRunning,
  openConnection,
  startEchoServer,
} from '../../packages/sdk/dist/testing/index.js';
import {
  freePort,
  processTree,
  startProcess,
  stopProcess,
  waitListening,
} from '../../bench/lib/proc.mjs';
import { pluginBinary, sip003Env, startPair } from '../lib/plugins.mjs';
import { ms, sleep, waitFor } from '../lib/measure.mjs';
import { createResult } from '../lib/report.mjs';

const DRAIN_TIMEOUT = 1;

export const sigtermUnderLoad = {
  name: 'sigterm-under-load',
  about: `http pair: SIGTERM to the server while connections stream echo traffic (drain-timeout=${DRAIN_TIMEOUT})`,
  async run(profile) {
    const result = createResult();
    const count = profile.short ? 20 : 100;
    const echo = await startEchoServer();
    const pair = await startPair('http', echo.port, `drain-timeout=${DRAIN_TIMEOUT}`);
    const sockets = [];
    let streaming = true;
    try {
      for (let i = 0; i < count; i++) {
        const s = await openConnection(pair.port);
        s.on('error', () => undefined);
        s.on('data', () => undefined);
        sockets.push(s);
      }
      const pump = setInterval(() => {
        if (streaming)
          for (const s of sockets)
            if (!s.destroyed && s.writableLength < 65_536) s.write(Buffer.alloc(16_384, 0x64));
      }, 5);
      await sleep(1000);
      const started = performance.now();
      pair.server.rec.child.kill('SIGTERM');
      const exit = await Promise.race([
        pair.server.rec.exited,
        sleep(DRAIN_TIMEOUT * 1000 + 10_000).then(() => undefined),
      ]);
      const took = performance.now() - started;
      streaming = false;
      clearInterval(pump);
      const code = exit === undefined ? 'still running' : (exit.code ?? exit.signal);
      result.figure(`${count} streaming connections: server exited ${code} after ${ms(took)}`);
      result.check(
        'exit 0 within drain-timeout + 1 s',
        exit?.code === 0 && took <= DRAIN_TIMEOUT * 1000 + 1000,
        `${code} after ${ms(took)}`,
        `0 within ${DRAIN_TIMEOUT + 1} s`,
      );
    } finally {
      streaming = false;
      for (const s of sockets) s.destroy();
      await pair.stop();
      await echo.close();
    }
    return result;
  },
};

/** A stand-in for ss-libev / shadowsocks-rust: starts the plugin with the given stdin, then waits. */
const HOST = `
const { spawn } = require('node:child_process');
const { openSync } = require('node:fs');
const [file, stdin] = process.argv.slice(1);
const child = spawn(file, [], { stdio: [stdin === 'pipe' ? 'pipe' : openSync('/dev/null', 'r'), 'ignore', 'inherit'] });
console.log('plugin ' + child.pid);
setInterval(() => {}, 60000);
`;

/** Starts host + plugin, SIGKILLs the host, resolves the ms until every plugin process is gone. */
async function hostKilled(stdin, workers) {
  const echo = await startEchoServer();
  const port = await freePort();
  const options =
    `server;drain-timeout=${DRAIN_TIMEOUT}` + (workers > 1 ? `;workers=${workers}` : '');
  const env = sip003Env('server', { listen: port, dial: echo.port, options });
  const host = startProcess(
    'host',
    process.execPath,
    ['-e', HOST, pluginBinary('noop'), stdin],
    env,
  );
  const open = [];
  try {
    await waitListening([port], [host], 15_000);
    const pluginPid = Number(/plugin (\d+)/.exec(host.output)?.[1]);
    // Workers start after the primary listens: wait until they are there before the kill.
    if (workers > 1) await waitFor(() => processTree(pluginPid).length >= workers + 1, 10_000);
    // Connections in use when the host dies: a graceful drain would wait for them.
    for (let i = 0; i < 4 * workers; i++) {
      const s = await openConnection(port);
      s.on('error', () => undefined);
      const answered = new Promise((r) => s.once('data', r));
      s.write('x');
      await answered;
      open.push(s);
    }
    const plugins = processTree(pluginPid);
    const started = performance.now();
    process.kill(host.pid, 'SIGKILL');
    const took = await waitFor(() => plugins.every((p) => !isRunning(p)), 15_000, 10);
    for (const p of plugins) if (isRunning(p)) process.kill(p, 'SIGKILL');
    return {
      took: took === undefined ? undefined : performance.now() - started,
      processes: plugins.length,
    };
  } finally {
    for (const s of open) s.destroy();
    await stopProcess(host);
    await echo.close();
  }
}

export const hostSigkill = {
  name: 'host-sigkill',
  about:
    'noop server with open connections, its host SIGKILLed: stdin pipe or /dev/null, workers=1 or 2',
  async run() {
    const result = createResult();
    for (const workers of [1, 2]) {
      for (const stdin of ['pipe', '/dev/null']) {
        const { took, processes } = await hostKilled(stdin, workers);
        result.figure(
          `workers=${workers}, stdin ${stdin}: ${processes} plugin processes, all gone ${took === undefined ? 'not within 15 s' : `after ${ms(took)}`}`,
        );
        if (workers === 2 && stdin === '/dev/null') {
          result.check(
            'workers=2, stdin /dev/null: all gone <= 1 s',
            took !== undefined && took <= 1000,
            ms(took),
            '<= 1000 ms',
          );
        }
      }
    }
    return result;
  },
};
