#!/usr/bin/env node
// Reference "plugin": the smallest possible Node relay, `a.pipe(b); b.pipe(a)`, configured by the
// SIP003 environment like any plugin. Client role (default): listens on SS_LOCAL_HOST:PORT and
// dials SS_REMOTE_HOST:PORT. Server role (`server` in SS_PLUGIN_OPTIONS): listens on
// SS_REMOTE_HOST:PORT and dials SS_LOCAL_HOST:PORT. It dials as soon as it accepts (no lazy
// dial) and never transforms bytes: an upper bound for what a Node plugin can do on this machine.

import net from 'node:net';

const env = process.env;
const options = (env.SS_PLUGIN_OPTIONS ?? '').split(';').map((o) => o.trim());
const isServer = options.includes('server');
const first = (h) =>
  (h ?? '')
    .split('|')[0]
    .trim()
    .replace(/^\[(.*)\]$/, '$1');
const need = (name) => {
  if (!env[name]) {
    process.stderr.write(`node-relay: ${name} is not set\n`);
    process.exit(2);
  }
  return env[name];
};
const listenHost = first(need(isServer ? 'SS_REMOTE_HOST' : 'SS_LOCAL_HOST'));
const listenPort = Number(need(isServer ? 'SS_REMOTE_PORT' : 'SS_LOCAL_PORT'));
const dialHost = first(need(isServer ? 'SS_LOCAL_HOST' : 'SS_REMOTE_HOST'));
const dialPort = Number(need(isServer ? 'SS_LOCAL_PORT' : 'SS_REMOTE_PORT'));

const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (a) => {
  const b = net.connect({ host: dialHost, port: dialPort, allowHalfOpen: true, noDelay: true });
  const kill = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', kill);
  b.on('error', kill);
  a.pipe(b);
  b.pipe(a);
});
server.on('error', (err) => {
  process.stderr.write(`node-relay: ${err.message}\n`);
  process.exit(1);
});
server.listen({ host: listenHost, port: listenPort, backlog: 4096 });

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
