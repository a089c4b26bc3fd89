import type { Duplex } from 'node:stream';
import type {
  Codec,
  Endpoint,
  Logger,
  Mode,
  PluginEnv,
  Session,
  SessionContext,
} from '@sip003/sdk';
import type { Detector, Verdict } from '../src/constants.ts';
import { createObfsSession, type ObfsSessionOptions } from '../src/session.ts';

/** A SessionContext without sockets that records what the session asks of the SDK. */
export interface FakeContext extends SessionContext<unknown> {
  /** Every `redirect()` call, in order. */
  readonly redirects: Endpoint[];
  /** Every `respond()` payload, in order. */
  readonly responses: Buffer[];
}

const ignore = (): void => undefined;
const silent: Logger = {
  error: ignore,
  warn: ignore,
  info: ignore,
  debug: ignore,
  debugEnabled: false,
  child() {
    return silent;
  },
};

const env: PluginEnv = {
  remoteHosts: ['127.0.0.1'],
  remotePort: 8388,
  localHosts: ['127.0.0.1'],
  localPort: 1080,
  pluginOptions: undefined,
};

export function fakeContext(
  mode: Mode,
  target: Endpoint = { host: '127.0.0.1', port: 8388 },
): FakeContext {
  let current = target;
  const redirects: Endpoint[] = [];
  const responses: Buffer[] = [];
  return {
    id: 1,
    mode,
    options: {},
    env,
    peer: { host: '127.0.0.1', port: 40000 },
    get target() {
      return current;
    },
    log: silent,
    signal: new AbortController().signal,
    redirect(to) {
      redirects.push(to);
      current = to;
    },
    respond(data) {
      responses.push(Buffer.from(data));
    },
    redirects,
    responses,
  };
}

/** Options of a client or server session; override what a test cares about. */
export function sessionOptions(overrides: Partial<ObfsSessionOptions> = {}): ObfsSessionOptions {
  return {
    obfs: 'http',
    obfsHost: 'www.example.com',
    obfsUri: '/',
    httpMethod: 'GET',
    serverObfsHost: undefined,
    failover: undefined,
    reverseProxy: false,
    ...overrides,
  };
}

/** Narrows a Session side to our synchronous Codec (the plugin never returns a Duplex). */
export function asCodec(side: Codec | Duplex | undefined): Codec {
  if (
    side === undefined ||
    !('transform' in side) ||
    typeof side.transform !== 'function' ||
    'pipe' in side
  ) {
    throw new TypeError('expected a Codec');
  }
  return side;
}

/** Drives one codec the way the SDK does, collecting every push. */
export class CodecRunner {
  readonly pushes: Buffer[] = [];
  readonly #codec: Codec;
  readonly #push = (data: Uint8Array): void => {
    if (data.byteLength > 0)
      this.pushes.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  };

  constructor(codec: Codec | Duplex | undefined) {
    this.#codec = asCodec(codec);
  }

  /** Feeds chunks; our codecs are synchronous, so a returned promise is a bug. */
  write(...chunks: Buffer[]): this {
    for (const chunk of chunks) {
      if (this.#codec.transform(chunk, this.#push) !== undefined)
        throw new Error('codec went async');
    }
    return this;
  }

  end(): this {
    if (this.#codec.flush?.(this.#push) !== undefined) throw new Error('codec went async');
    return this;
  }

  /** The handshake-deadline hook; returns whether it pushed. */
  expire(): boolean {
    const before = this.pushes.length;
    this.#codec.expire?.(this.#push);
    return this.pushes.length > before;
  }

  get output(): Buffer {
    return Buffer.concat(this.pushes);
  }
}

/** A session plus runners for both directions and its fake context. */
export function startSession(mode: Mode, options: ObfsSessionOptions, target?: Endpoint) {
  const ctx = fakeContext(mode, target);
  const session: Session = createObfsSession(ctx, options);
  return {
    ctx,
    session,
    encode: new CodecRunner(session.encode),
    decode: new CodecRunner(session.decode),
  };
}

/** mulberry32: a small seeded PRNG so property tests are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function seededBytes(random: () => number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/** Splits `data` into pieces of the given sizes (the last piece takes the rest). */
export function splitAt(data: Buffer, sizes: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  for (const size of sizes) {
    if (offset >= data.length) break;
    out.push(data.subarray(offset, offset + size));
    offset += size;
  }
  if (offset < data.length) out.push(data.subarray(offset));
  return out;
}

export function byteByByte(data: Buffer): Buffer[] {
  return Array.from({ length: data.length }, (_, i) => data.subarray(i, i + 1));
}

/**
 * Ways to cut `data` for "any segmentation" checks: byte by byte first, then `count` random
 * chunkings with pieces of 1..max bytes from a PRNG seeded with `seed`.
 */
export function segmentations(data: Buffer, seed: number, max: number, count = 100): Buffer[][] {
  const random = seededRandom(seed);
  return [
    byteByByte(data),
    ...Array.from({ length: count }, () => randomChunks(data, random, max)),
  ];
}

/** Random split points, pieces of 1..max bytes. */
export function randomChunks(data: Buffer, random: () => number, max = 4096): Buffer[] {
  const out: Buffer[] = [];
  for (let offset = 0; offset < data.length;) {
    const size = 1 + Math.floor(random() * max);
    out.push(data.subarray(offset, offset + size));
    offset += size;
  }
  return out;
}

export const hex = (text: string): Buffer => Buffer.from(text, 'hex');
export const ascii = (text: string): Buffer => Buffer.from(text, 'latin1');

/** Feeds growing prefixes of `pieces` to a detector until it gives a verdict (as the server does). */
export function inspectPieces(detector: Detector, pieces: readonly Buffer[]): Verdict {
  let head = Buffer.alloc(0);
  let verdict: Verdict = { kind: 'wait' };
  for (const piece of pieces) {
    head = Buffer.concat([head, piece]);
    verdict = detector.inspect(head);
    if (verdict.kind !== 'wait') break;
  }
  return verdict;
}
