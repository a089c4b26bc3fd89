/**
 * Loads the simple-obfs 0.0.5 transcripts in test/vectors (see its README) and
 * derives what a replay needs: per-connection wire chunks, the options each C process ran with,
 * and simple non-incremental reference parsers used as an oracle for the end-to-end captures.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Endpoint } from '@sip003/sdk';
import type { ObfsSessionOptions } from '../src/session.ts';
import { sessionOptions } from './helpers.ts';

/** The captured corpus, kept in the repository (test/vectors/README.md says where it came from). */
export const VECTORS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'vectors');
export const VECTORS_PRESENT = existsSync(path.join(VECTORS_DIR, 'index.json'));

export interface Chunk {
  readonly t_ms: number;
  readonly len: number;
  readonly hex: string;
}
export interface WireEntry {
  readonly conn: number;
  readonly dir: 'c2s' | 's2c';
  readonly hex?: string;
  readonly event?: string;
}
export interface Process {
  readonly role: string;
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}
export interface PeerConnection {
  readonly received: readonly Chunk[];
  readonly sent: readonly Chunk[];
}
export interface MatrixCase {
  readonly label: string;
  readonly input_segments_hex: readonly string[];
  readonly routed_to: 'upstream' | 'failover' | 'nowhere';
  readonly upstream_received_hex: string;
  readonly failover_received_hex: string;
  readonly upstream_received_total: number;
  readonly failover_received_total: number;
}
export interface ClientCase {
  readonly label: string;
  readonly fake_server_sent_hex: readonly string[];
  readonly client_received_hex: string;
  readonly obfs_local_errors: readonly string[];
  readonly obfs_local_exit?: { readonly signal: string | null };
}
export interface Vector {
  readonly name: string;
  readonly group: string;
  readonly mode?: 'http' | 'tls';
  readonly processes: readonly Process[];
  readonly relay: { readonly listen: number };
  readonly wire: readonly WireEntry[];
  readonly streams?: readonly {
    readonly conn: number;
    readonly c2s_hex: string;
    readonly s2c_hex: string;
  }[];
  readonly peers: Readonly<Record<string, { readonly connections: readonly PeerConnection[] }>>;
  readonly clients: readonly { readonly received: readonly Chunk[] }[];
  readonly decoded?: readonly Record<string, unknown>[];
  readonly cases?: readonly (MatrixCase & ClientCase)[];
}

/** Every vector file of a group folder (`http`, `tls`, ...), sorted by name. */
export function loadGroup(group: string): Vector[] {
  const dir = path.join(VECTORS_DIR, group);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as Vector);
}

export function loadVector(file: string): Vector {
  return JSON.parse(readFileSync(path.join(VECTORS_DIR, file), 'utf8')) as Vector;
}

export const concatHex = (chunks: readonly { readonly hex: string }[]): Buffer =>
  Buffer.concat(chunks.map((c) => Buffer.from(c.hex, 'hex')));

/** One proxied connection: the relay's chunks in each direction. */
export interface WireSession {
  readonly conn: number;
  readonly c2s: Buffer[];
  readonly s2c: Buffer[];
}

/**
 * Splits the relay log into connections. Two scenarios ran two relays that both logged as
 * conn 0 (the *-server-rand-unseeded captures), so data after FINs both ways starts a new one.
 */
export function wireSessions(vector: Vector): WireSession[] {
  const out: (WireSession & { fins: Set<string> })[] = [];
  const current = new Map<number, WireSession & { fins: Set<string> }>();
  for (const entry of vector.wire) {
    let session = current.get(entry.conn);
    if (entry.hex !== undefined) {
      if (session === undefined || session.fins.size === 2) {
        session = { conn: entry.conn, c2s: [], s2c: [], fins: new Set() };
        current.set(entry.conn, session);
        out.push(session);
      }
      session[entry.dir].push(Buffer.from(entry.hex, 'hex'));
    } else if (entry.event === 'fin' && session !== undefined) {
      session.fins.add(entry.dir);
    }
  }
  return out.sort((a, b) => a.conn - b.conn);
}

/** `k=v;flag` as in SS_PLUGIN_OPTIONS / --plugin-opts (the captures use no escapes). */
function pluginOptions(text: string | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const part of (text ?? '').split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    map.set(eq === -1 ? part : part.slice(0, eq), eq === -1 ? '' : part.slice(eq + 1));
  }
  return map;
}

function flag(argv: readonly string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  return at === -1 ? undefined : argv[at + 1];
}

function processOf(vector: Vector, roles: readonly string[]): Process | undefined {
  return vector.processes.find((p) => roles.some((role) => p.role.startsWith(role)));
}

export function parseEndpoint(text: string): Endpoint {
  const colon = text.lastIndexOf(':');
  return { host: text.slice(0, colon), port: Number(text.slice(colon + 1)) };
}

/** The obfs-server configuration of a capture, as ObfsSessionOptions. */
export function serverConfig(vector: Vector): ObfsSessionOptions {
  const proc = processOf(vector, ['obfs-server', 'ss-server']);
  if (proc === undefined) throw new Error(`${vector.name}: no obfs-server process`);
  const plugin = pluginOptions(flag(proc.argv, '--plugin-opts') ?? proc.env['SS_PLUGIN_OPTIONS']);
  const obfs = flag(proc.argv, '--obfs') ?? plugin.get('obfs');
  if (obfs !== 'http' && obfs !== 'tls')
    throw new Error(`${vector.name}: obfs-server without obfs`);
  const failover = flag(proc.argv, '--failover') ?? plugin.get('failover');
  return sessionOptions({
    obfs,
    serverObfsHost: flag(proc.argv, '--obfs-host') ?? plugin.get('obfs-host'),
    failover: failover === undefined ? undefined : parseEndpoint(failover),
    reverseProxy: proc.argv.includes('--reverse_proxy') || plugin.has('reverse_proxy'),
  });
}

/** The obfs-local configuration of a capture and the port it dialed, if it had one. */
export function clientConfig(
  vector: Vector,
): { options: ObfsSessionOptions; port: number } | undefined {
  const proc = processOf(vector, ['obfs-local', 'ss-local']);
  if (proc === undefined) return undefined;
  const plugin = pluginOptions(flag(proc.argv, '--plugin-opts') ?? proc.env['SS_PLUGIN_OPTIONS']);
  const obfs = flag(proc.argv, '--obfs') ?? plugin.get('obfs');
  if (obfs !== 'http' && obfs !== 'tls') throw new Error(`${vector.name}: obfs-local without obfs`);
  const host = flag(proc.argv, '--obfs-host') ?? plugin.get('obfs-host') ?? 'cloudfront.net';
  const port = Number(flag(proc.argv, '-p') ?? proc.env['SS_REMOTE_PORT']);
  return { options: sessionOptions({ obfs, obfsHost: host }), port };
}

/** Reference parse of what obfs-local sent: the application bytes (oracle, whole stream). */
export function referenceC2s(mode: 'http' | 'tls', stream: Buffer): Buffer {
  if (mode === 'http') return stream.subarray(stream.indexOf('\r\n\r\n') + 4);
  const helloEnd = 5 + stream.readUInt16BE(3);
  const ticket = stream.subarray(142, 142 + stream.readUInt16BE(140));
  return Buffer.concat([ticket, ...records(stream, helloEnd)]);
}

/** Reference parse of what obfs-server sent: the application bytes (oracle, whole stream). */
export function referenceS2c(mode: 'http' | 'tls', stream: Buffer): Buffer {
  if (mode === 'http') return stream.subarray(stream.indexOf('\r\n\r\n') + 4);
  const finished = stream.readUInt16BE(105);
  return Buffer.concat([stream.subarray(107, 107 + finished), ...records(stream, 107 + finished)]);
}

function records(stream: Buffer, start: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = start; at < stream.length;) {
    const length = stream.readUInt16BE(at + 3);
    out.push(stream.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  return out;
}
