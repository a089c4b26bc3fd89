// The built plugins started as real processes with the SIP003 environment, and what /proc says
// about them. Processes come from bench/lib/proc.mjs (pipe stdin held open, ended by PID).

import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  freePort,
  processTree,
  resolveBinary,
  startProcess,
  stopProcess,
  treeRssKiB,
  waitListening,
} from '../../bench/lib/proc.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Each plugin under test: its built binary and the options of its two sides. */
export const PLUGINS = {
  noop: { bin: 'packages/noop-plugin/dist/noop-plugin', client: '', server: 'server' },
  http: {
    bin: 'packages/obfs-http-plugin/dist/obfs-http-plugin',
    client: 'obfs=http;obfs-host=www.example.com',
    server: 'server;obfs=http',
  },
  tls: {
    bin: 'packages/obfs-http-plugin/dist/obfs-http-plugin',
    client: 'obfs=tls;obfs-host=www.example.com',
    server: 'server;obfs=tls',
  },
};

/** The built binary of a plugin, or an error saying to run `pnpm build`. */
export function pluginBinary(kind) {
  const file = resolveBinary(PLUGINS[kind].bin, ROOT);
  if (file === undefined) throw new Error(`${PLUGINS[kind].bin} is missing: run pnpm build first`);
  return file;
}

/** SIP003 environment of one side. Server: listens on `listen`, dials `dial`; client: the reverse. */
export function sip003Env(side, { listen, dial, options }) {
  const [remote, local] = side === 'server' ? [listen, dial] : [dial, listen];
  return {
    SS_REMOTE_HOST: '127.0.0.1',
    SS_REMOTE_PORT: String(remote),
    SS_LOCAL_HOST: '127.0.0.1',
    SS_LOCAL_PORT: String(local),
    SS_PLUGIN_OPTIONS: options,
  };
}

const join = (...parts) => parts.filter((p) => p !== '').join(';');

/** Starts the server side of `kind` in front of `upstream`; resolves once it accepts. */
export async function startServer(kind, upstream, extra = '') {
  const port = await freePort();
  const env = sip003Env('server', {
    listen: port,
    dial: upstream,
    options: join(PLUGINS[kind].server, extra),
  });
  const rec = startProcess(`${kind} server`, pluginBinary(kind), [], env);
  await waitListening([port], [rec], 15_000);
  return { rec, port, pid: rec.pid };
}

/** Client and server of `kind` in front of `upstream`: connect to `port` to go through both. */
export async function startPair(kind, upstream, extra = '') {
  const server = await startServer(kind, upstream, extra);
  const port = await freePort();
  const env = sip003Env('client', {
    listen: port,
    dial: server.port,
    options: join(PLUGINS[kind].client, extra),
  });
  const client = startProcess(`${kind} client`, pluginBinary(kind), [], env);
  await waitListening([port], [client], 15_000);
  return {
    server,
    client: { rec: client, port, pid: client.pid },
    port,
    stop: () => Promise.all([stopProcess(client), stopProcess(server.rec)]),
  };
}

/** Open file descriptors of pid and its descendants (cluster workers). */
export function fdCount(pid) {
  let n = 0;
  for (const p of processTree(pid)) {
    try {
      n += readdirSync(`/proc/${p}/fd`).length;
    } catch {
      // exited meanwhile
    }
  }
  return n;
}

export { treeRssKiB as rssKiB };
