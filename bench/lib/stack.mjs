// The stacks under test: checking their binaries, starting one (plugin pair, ss-libev with or
// without plugins, or direct), and reading its processes' RSS and CPU time.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SS_LIBEV } from '../stacks.mjs';
import {
  resolveBinary,
  startProcess,
  stopProcess,
  freePort,
  waitListening,
  treeRssKiB,
  treeCpuSeconds,
} from './proc.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const LOCAL = '127.0.0.1';

function requiredBinaries(stack) {
  const out = [];
  if (stack.kind === 'ss-libev') out.push(SS_LIBEV.local, SS_LIBEV.server);
  if (stack.client) out.push(stack.client, stack.server);
  return out;
}

export function checkBinaries(stacks) {
  const missing = new Map();
  const resolved = new Map();
  for (const s of stacks) {
    for (const b of requiredBinaries(s)) {
      const p = resolveBinary(b.bin, ROOT);
      if (p) resolved.set(b.bin, p);
      else {
        const m = missing.get(b.bin) ?? { install: b.install, stacks: [] };
        if (!m.stacks.includes(s.name)) m.stacks.push(s.name);
        missing.set(b.bin, m);
      }
    }
  }
  return { missing, resolved };
}

/**
 * ss-libev picks the port between host and plugin itself (bind to port 0, close, pass it on), and
 * under the bench's connection churn another socket can take it first: the plugin exits with
 * EADDRINUSE and the host with it (seen in round 3 of a full run). That race is the host's, not
 * the stack's, so such a start is retried with fresh ports, 3 starts in all; nothing else is.
 */
export async function startStackRetrying(stack, targetPort, bins) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startStack(stack, targetPort, bins);
    } catch (e) {
      if (stack.kind !== 'ss-libev' || attempt >= 3 || !String(e.message).includes('EADDRINUSE'))
        throw e;
      console.log(
        `${stack.name}: the plugin port ss-libev picked was taken (EADDRINUSE); starting again (${attempt + 1}/3)`,
      );
    }
  }
}

async function startStack(stack, targetPort, bins) {
  const procs = [];
  const measured = [];
  let entry;
  const ports = [];
  try {
    if (stack.kind === 'direct') {
      entry = { host: LOCAL, port: targetPort };
    } else if (stack.kind === 'pair') {
      const cPort = await freePort();
      const sPort = await freePort();
      const server = startProcess(`${stack.name} plugin server`, bins.get(stack.server.bin), [], {
        SS_REMOTE_HOST: LOCAL,
        SS_REMOTE_PORT: String(sPort),
        SS_LOCAL_HOST: LOCAL,
        SS_LOCAL_PORT: String(targetPort),
        SS_PLUGIN_OPTIONS: stack.server.options,
      });
      procs.push(server);
      const client = startProcess(`${stack.name} plugin client`, bins.get(stack.client.bin), [], {
        SS_LOCAL_HOST: LOCAL,
        SS_LOCAL_PORT: String(cPort),
        SS_REMOTE_HOST: LOCAL,
        SS_REMOTE_PORT: String(sPort),
        SS_PLUGIN_OPTIONS: stack.client.options,
      });
      procs.push(client);
      measured.push(client, server);
      ports.push(sPort, cPort);
      entry = { host: LOCAL, port: cPort };
    } else if (stack.kind === 'ss-libev') {
      const sPort = await freePort();
      const lPort = await freePort();
      const common = ['-s', LOCAL, '-p', String(sPort), '-k', SS_LIBEV.password];
      common.push('-m', SS_LIBEV.method, '--no-delay', '-t', '600', '-n', '16384');
      const plug = (side) =>
        stack[side]
          ? ['--plugin', bins.get(stack[side].bin), '--plugin-opts', stack[side].options]
          : [];
      const server = startProcess(
        `${stack.name} ss-server`,
        bins.get(SS_LIBEV.server.bin),
        [...common, ...plug('server')],
        {},
      );
      procs.push(server);
      const local = startProcess(
        `${stack.name} ss-local`,
        bins.get(SS_LIBEV.local.bin),
        [...common, '-b', LOCAL, '-l', String(lPort), ...plug('client')],
        {},
      );
      procs.push(local);
      ports.push(sPort, lPort);
      entry = { host: LOCAL, port: lPort, socks: { host: LOCAL, port: targetPort } };
    } else {
      throw new Error(`unknown stack kind ${stack.kind}`);
    }
    if (ports.length) await waitListening(ports, procs, 15000);
    return { stack, procs, measured, entry, targetPort };
  } catch (e) {
    await Promise.all(procs.map((p) => stopProcess(p)));
    throw e;
  }
}

export function assertAlive(run) {
  for (const p of run.procs) {
    if (p.exitInfo) {
      throw new Error(
        `${p.label} (pid ${p.pid}) exited (${JSON.stringify(p.exitInfo)}); last output:\n${p.output}`,
      );
    }
  }
}

/** An error from a test, with the exit status and output of any stack process that died. */
export async function failure(run, what, e) {
  await sleep(200); // a dying plugin's exit can trail the socket error it caused
  const dead = run.procs.filter((p) => p.exitInfo);
  const why = dead.map(
    (p) =>
      `\n${p.label} (pid ${p.pid}) exited ${JSON.stringify(p.exitInfo)}; last output:\n${p.output}`,
  );
  return new Error(`${run.stack.name}, ${what}: ${e.message}${why.join('')}`);
}

export const rssKiB = (run) => run.measured.reduce((a, p) => a + treeRssKiB(p.pid), 0);
export const cpuSec = (run) => run.measured.reduce((a, p) => a + treeCpuSeconds(p.pid), 0);
