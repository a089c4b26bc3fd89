/**
 * `sip003 doctor`: what a plugin needs on this machine, one line per check (ok, warn, or fail with
 * what to do): Node itself, `node` on PATH, the shadowsocks hosts, the SS_* environment, and
 * whether the ports it would listen on are free.
 */
import { createServer } from 'node:net';
import { formatEndpoint, parseEndpoint, parsePort, type Endpoint } from '../address.ts';
import {
  readEnv,
  SS_LOCAL_HOST,
  SS_LOCAL_PORT,
  SS_PLUGIN_OPTIONS,
  SS_REMOTE_HOST,
  SS_REMOTE_PORT,
  type PluginEnv,
} from '../env.ts';
import { parseOptions } from '../options.ts';
import { findBinary } from '../testing/processes.ts';
import { parseCommandLine } from './args.ts';
import { exec } from './exec.ts';
import { reason, usageError } from './failures.ts';

export const DOCTOR_USAGE = `Usage: sip003 doctor [options]

Checks what a plugin needs on this machine and prints one line each (ok, warn, fail): the Node
version (20 or newer, and still maintained), node on PATH (plain bundles run with it), the
shadowsocks hosts on PATH (ss-local/ss-server of shadowsocks-libev, sslocal/ssserver of
shadowsocks-rust) with their versions, the SS_* environment if set, and whether the ports the
plugin would listen on are free (SS_LOCAL for a client, SS_REMOTE with the "server" option).

  --port <port>         also check that 127.0.0.1:<port> is free to listen on
  --listen <host:port>  also check that <host:port> is free to listen on
  --help                this text

Exit 0 when nothing failed (warnings allowed), 1 when a check failed, 64 for bad usage.
`;

export type Level = 'ok' | 'warn' | 'fail';

/** One line of the report. */
export interface Check {
  readonly level: Level;
  readonly text: string;
}

/**
 * End of life of each Node major, from https://github.com/nodejs/release#release-schedule. A
 * major newer than the table is taken as maintained.
 */
const NODE_END_OF_LIFE: Readonly<Record<number, string>> = {
  18: '2025-04-30',
  19: '2023-06-01',
  20: '2026-04-30',
  21: '2024-06-01',
  22: '2027-04-30',
  23: '2025-06-01',
  24: '2028-04-30',
  25: '2026-06-01',
  26: '2029-04-30',
};

/** The maintained LTS (even) majors on `today`, for "upgrade to ...". */
function maintainedLts(today: Date): string {
  const majors = Object.entries(NODE_END_OF_LIFE)
    .filter(([major, eol]) => Number(major) % 2 === 0 && new Date(eol) > today)
    .map(([major]) => major);
  if (majors.length === 0) return 'a maintained release';
  return `Node ${majors.length === 1 ? majors[0] : `${majors.slice(0, -1).join(', ')} or ${majors.at(-1)}`}`;
}

/** `version` (e.g. `20.20.2`) of the running node, judged on `today`. */
export function checkNodeVersion(version: string, today: Date): Check {
  const major = Number(version.split('.')[0]);
  if (!(major >= 20))
    return {
      level: 'fail',
      text: `node ${version}: the SDK needs Node 20 or newer; install ${maintainedLts(today)}`,
    };
  const eol = NODE_END_OF_LIFE[major];
  if (eol !== undefined && new Date(eol) <= today)
    return {
      level: 'warn',
      text: `node ${version}: end of life since ${eol} (no more security fixes); upgrade to ${maintainedLts(today)}`,
    };
  return {
    level: 'ok',
    text: `node ${version}${eol === undefined ? '' : ` (maintained until ${eol})`}`,
  };
}

/** The version a program prints for `args`, found by `pattern`; undefined if none. */
async function versionOf(
  path: string,
  args: string[],
  pattern: RegExp,
): Promise<string | undefined> {
  try {
    const result = await exec(path, args, { timeoutMs: 10_000 });
    return pattern.exec(result.stdout + result.stderr)?.[1];
  } catch {
    return undefined;
  }
}

async function checkNodeOnPath(): Promise<Check> {
  const node = findBinary('node');
  if (node === undefined)
    return {
      level: 'warn',
      text: 'node is not on PATH: plain bundles (#!/usr/bin/env node) will not start; install Node.js 20+ or bundle with --standalone',
    };
  const version = await versionOf(node, ['--version'], /v(\d+\.\d+\.\d+)/);
  if (version === undefined || Number(version.split('.')[0]) < 20)
    return {
      level: 'warn',
      text: `node on PATH is ${node} (${version === undefined ? 'version unknown' : `v${version}`}): plain bundles need Node 20+`,
    };
  return { level: 'ok', text: `node on PATH: ${node} v${version} (runs plain bundles)` };
}

/** The shadowsocks hosts that start plugins, and how each tells its version. */
const HOSTS = [
  {
    name: 'ss-local',
    args: ['-h'],
    pattern: /shadowsocks-libev (\S+)/,
    suite: 'shadowsocks-libev',
  },
  {
    name: 'ss-server',
    args: ['-h'],
    pattern: /shadowsocks-libev (\S+)/,
    suite: 'shadowsocks-libev',
  },
  { name: 'sslocal', args: ['--version'], pattern: /shadowsocks (\S+)/, suite: 'shadowsocks-rust' },
  {
    name: 'ssserver',
    args: ['--version'],
    pattern: /shadowsocks (\S+)/,
    suite: 'shadowsocks-rust',
  },
] as const;

const INSTALL: Readonly<Record<string, string>> = {
  'shadowsocks-libev': 'apt-get install shadowsocks-libev',
  'shadowsocks-rust': 'cargo install shadowsocks-rust, or a release from its GitHub page',
};

async function checkHost(host: (typeof HOSTS)[number]): Promise<Check> {
  const path = findBinary(host.name);
  if (path === undefined)
    return {
      level: 'warn',
      text: `${host.name} is not on PATH (${host.suite}; needed only to run the plugin under it: ${INSTALL[host.suite]})`,
    };
  const version = await versionOf(path, [...host.args], host.pattern);
  return {
    level: 'ok',
    text: `${host.name}: ${path} (${host.suite} ${version ?? 'version unknown'})`,
  };
}

const SS_VARIABLES = [
  SS_REMOTE_HOST,
  SS_REMOTE_PORT,
  SS_LOCAL_HOST,
  SS_LOCAL_PORT,
  SS_PLUGIN_OPTIONS,
];

/** A port to try, and where it came from (`SS_LOCAL`, `--port`). */
interface Listen {
  readonly endpoint: Endpoint;
  readonly source: string;
}

/** The SS_* environment if any is set, and where a plugin started with it would listen. */
function checkEnvironment(env: NodeJS.ProcessEnv): { check: Check; listens: Listen[] } {
  if (SS_VARIABLES.every((name) => env[name] === undefined))
    return {
      check: {
        level: 'ok',
        text: 'SS_* environment: not set here (a shadowsocks host sets it for the plugin it starts)',
      },
      listens: [],
    };
  let pluginEnv: PluginEnv;
  let server: boolean;
  try {
    pluginEnv = readEnv(env);
    server = parseOptions(pluginEnv.pluginOptions ?? '').some((entry) => entry.key === 'server');
  } catch (error) {
    return { check: { level: 'fail', text: `SS_* environment: ${reason(error)}` }, listens: [] };
  }
  const remote = pluginEnv.remoteHosts.map((host) => ({ host, port: pluginEnv.remotePort }));
  const local = pluginEnv.localHosts.map((host) => ({ host, port: pluginEnv.localPort }));
  // SIP003: a client plugin listens on SS_LOCAL and dials SS_REMOTE; a server plugin the reverse.
  const [listens, dials, source] = server
    ? [remote, local, 'SS_REMOTE']
    : [local, remote, 'SS_LOCAL'];
  const list = (endpoints: Endpoint[]): string => endpoints.map(formatEndpoint).join(', ');
  return {
    check: {
      level: 'ok',
      text: `SS_* environment: ${server ? 'server' : 'client'} side, listens on ${list(listens)}, dials ${list(dials)}`,
    },
    listens: listens.map((endpoint) => ({ endpoint, source })),
  };
}

const BIND_FAILURES: Readonly<Record<string, string>> = {
  EADDRINUSE: 'in use; stop what listens there or choose another port',
  EACCES: 'permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE',
  EADDRNOTAVAIL: 'no such address on this machine',
  ENOTFOUND: 'the host name does not resolve',
};

/** Listens on the endpoint and closes at once; fails with what to do. */
function checkBind({ endpoint, source }: Listen): Promise<Check> {
  const where = `${formatEndpoint(endpoint)} (${source})`;
  return new Promise((resolve) => {
    const server = createServer();
    // A host name is looked up first; a lookup that hangs must not hang the report.
    const timer = setTimeout(() => {
      server.close();
      resolve({ level: 'fail', text: `${where}: could not listen within 5 s` });
    }, 5000);
    server.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const code = error.code ?? reason(error);
      resolve({ level: 'fail', text: `${where}: ${BIND_FAILURES[code] ?? code}` });
    });
    server.listen({ host: endpoint.host, port: endpoint.port, exclusive: true }, () => {
      clearTimeout(timer);
      server.close(() => resolve({ level: 'ok', text: `${where}: free to listen on` }));
    });
  });
}

/** `sip003 doctor`: prints the checks; 0 if none failed, 1 otherwise. */
export async function doctorCommand(
  argv: readonly string[],
  io: { stdout(line: string): void },
): Promise<number> {
  const { values, positionals } = parseCommandLine(
    argv,
    { port: { type: 'string' }, listen: { type: 'string' }, help: { type: 'boolean' } },
    'sip003 doctor',
  );
  if (values['help'] === true) {
    io.stdout(DOCTOR_USAGE);
    return 0;
  }
  if (positionals.length > 0)
    throw usageError(`sip003 doctor: expected no arguments, got ${positionals.join(' ')}`);
  const extra: Listen[] = [];
  const portText = values['port'] as string | undefined;
  if (portText !== undefined) {
    const port = parsePort(portText);
    if (port === undefined)
      throw usageError(
        `sip003 doctor: --port: expected an integer from 1 to 65535, got ${JSON.stringify(portText)}`,
      );
    extra.push({ endpoint: { host: '127.0.0.1', port }, source: '--port' });
  }
  const listenText = values['listen'] as string | undefined;
  if (listenText !== undefined) {
    const endpoint = parseEndpoint(listenText);
    if (endpoint === undefined)
      throw usageError(
        `sip003 doctor: --listen: expected host:port, got ${JSON.stringify(listenText)}`,
      );
    extra.push({ endpoint, source: '--listen' });
  }

  const environment = checkEnvironment(process.env);
  const checks: Check[] = [
    checkNodeVersion(process.versions.node, new Date()),
    await checkNodeOnPath(),
    ...(await Promise.all(HOSTS.map(checkHost))),
    environment.check,
    ...(await Promise.all([...environment.listens, ...extra].map(checkBind))),
  ];
  for (const { level, text } of checks) io.stdout(`${level.padEnd(4)}  ${text}`);
  return checks.some((c) => c.level === 'fail') ? 1 : 0;
}
