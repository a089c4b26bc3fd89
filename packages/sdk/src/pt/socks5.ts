import { connect, isIP, type Socket } from 'node:net';
import { ErrorCode, PluginError } from '../errors.ts';
import { formatEndpoint, unbracket, type Endpoint } from '../address.ts';
import { formatOptions } from '../options.ts';

/** Per-connection arguments of a Tor pluggable transport (`cert`, `iat-mode`, ...). */
export type PtArgs = Readonly<Record<string, string>>;

export interface Socks5DialOptions {
  /** The SOCKS5 server (a PT's CMETHOD address, a local proxy). */
  proxy: Endpoint;
  /** Where the proxy should connect: IPv4/IPv6 literal or host name. */
  target: Endpoint;
  /** PT per-connection arguments, sent as RFC 1929 username/password (pt-spec 3.5). */
  args?: PtArgs;
  /** Milliseconds for the whole dial: TCP connect, negotiation and the proxy's reply. */
  timeoutMs?: number;
  /** Aborting it destroys the socket and rejects. */
  signal?: AbortSignal;
}

/**
 * pt-spec 3.5: "the <Key>=<Value> formatted arguments MUST be escaped, such that all backslash,
 * equal sign, and semicolon characters are escaped with a backslash", then joined with `;`.
 * That is the SIP003 option format, so the one formatter serves both.
 */
export function formatPtArgs(args: PtArgs): string {
  return formatOptions(args);
}

/**
 * pt-spec 3.5: the escaped arguments go in UNAME and PASSWD. When they fit in 255 bytes, PLEN is 1
 * and PASSWD a single NUL; longer ones continue in PASSWD (goptlib joins the two back).
 */
function authRequest(args: string): Buffer {
  const bytes = Buffer.from(args);
  if (bytes.length === 0) throw new RangeError('SOCKS5: empty PT arguments need no authentication');
  if (bytes.length > 510)
    throw new RangeError(
      `SOCKS5: PT arguments must fit in 510 bytes (UNAME + PASSWD), got ${bytes.length}`,
    );
  const user = bytes.subarray(0, 255);
  const pass = bytes.length > 255 ? bytes.subarray(255) : Buffer.from([0]);
  return Buffer.concat([Buffer.from([1, user.length]), user, Buffer.from([pass.length]), pass]);
}

/** DST.ADDR with its ATYP: 1 (IPv4), 4 (IPv6, brackets allowed) or 3 (a name, 1..255 bytes). */
export function socksAddress(host: string): Buffer {
  const bare = unbracket(host);
  const family = isIP(bare);
  if (family === 4) return Buffer.from([1, ...bare.split('.').map(Number)]);
  if (family === 6) return Buffer.concat([Buffer.from([4]), ipv6Bytes(bare)]);
  const name = Buffer.from(host);
  if (name.length === 0 || name.length > 255)
    throw new RangeError(`SOCKS5: a host name must be 1 to 255 bytes, got ${name.length}`);
  return Buffer.concat([Buffer.from([3, name.length]), name]);
}

/** The 16 bytes of an IPv6 literal (`::` and an embedded IPv4 tail allowed, zone dropped). */
function ipv6Bytes(address: string): Buffer {
  let text = address.split('%')[0]!;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4 !== null) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [left = '', right] = text.split('::');
  const head = left === '' ? [] : left.split(':');
  const tail = right === undefined || right === '' ? [] : right.split(':');
  const groups =
    right === undefined
      ? head
      : [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** RFC 1928 REP codes. */
const REPLIES: Readonly<Record<number, string>> = {
  1: 'general failure',
  2: 'connection not allowed by ruleset',
  3: 'network unreachable',
  4: 'host unreachable',
  5: 'connection refused',
  6: 'TTL expired',
  7: 'command not supported',
  8: 'address type not supported',
};

/**
 * Opens a SOCKS5 CONNECT tunnel through `proxy` and resolves with the socket once the proxy has
 * granted it (for a PT, once the transport's own handshake with its server is done). Reads exactly
 * the reply's length, so bytes the far end sends right after the grant stay in the socket for the
 * caller. Usable as a plugin's `dial`. Rejects with a SIP003_DIAL_FAILED PluginError; never leaves
 * an 'error' event unhandled.
 */
export function socks5Dial({
  proxy,
  target,
  args,
  timeoutMs = 10_000,
  signal,
}: Socks5DialOptions): Promise<Socket> {
  const where = `SOCKS5 proxy ${formatEndpoint(proxy)}`;
  const argText = args === undefined ? '' : formatPtArgs(args);
  const request = Buffer.concat([
    Buffer.from([5, 1, 0]),
    socksAddress(target.host),
    Buffer.from([target.port >> 8, target.port & 0xff]),
  ]);
  const auth = argText === '' ? undefined : authRequest(argText);

  return new Promise<Socket>((resolve, reject) => {
    const socket = connect({
      host: proxy.host,
      port: proxy.port,
      allowHalfOpen: true,
      noDelay: true,
    });
    /** Bytes wanted by the current step, and what to do with them. */
    let want = 0;
    let step: ((data: Buffer) => void) | undefined;
    let settled = false;

    const cleanup = (): void => {
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('readable', pump);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.off('close', onEnd);
    };
    const fail = (message: string, cause?: unknown): void => {
      if (settled) return;
      cleanup();
      // A late error from the destroyed socket must not become an uncaught exception.
      socket.on('error', () => undefined);
      socket.destroy();
      reject(
        new PluginError(
          ErrorCode.DIAL_FAILED,
          `${where}: ${message}`,
          cause === undefined ? undefined : { cause },
        ),
      );
    };
    const onError = (error: Error): void => fail(error.message, error);
    const onEnd = (): void =>
      fail(`proxy closed the connection before granting ${formatEndpoint(target)}`);
    const onAbort = (): void => fail('dial aborted');
    const timer = setTimeout(
      () => fail(`no tunnel to ${formatEndpoint(target)} within ${timeoutMs / 1000} s`),
      timeoutMs,
    );
    if (signal?.aborted === true) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });

    const expect = (n: number, then: (data: Buffer) => void): void => {
      want = n;
      step = then;
      pump();
    };
    // read(n) returns null until n bytes are buffered and never takes more than n.
    function pump(): void {
      while (!settled && step !== undefined) {
        const data = socket.read(want) as Buffer | null;
        if (data === null) return;
        const current = step;
        step = undefined;
        current(data);
      }
    }
    const reply = (head: Buffer): void => {
      if (head[0] !== 5) return fail(`not a SOCKS5 reply (${head.toString('hex')})`);
      if (head[1] !== 0)
        return fail(
          `CONNECT refused with code ${head[1]} (${REPLIES[head[1]!] ?? 'unassigned'}) for ${formatEndpoint(target)}`,
        );
      const rest = head[3] === 1 ? 6 : head[3] === 4 ? 18 : head[3] === 3 ? -1 : 0;
      if (rest === 0) return fail(`reply with unknown address type ${head[3]}`);
      const granted = (): void => {
        cleanup();
        resolve(socket);
      };
      if (rest > 0) expect(rest, granted);
      else expect(1, (len) => expect(len[0]! + 2, granted));
    };
    const connectRequest = (): void => {
      socket.write(request);
      expect(4, reply);
    };

    socket.on('error', onError);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('readable', pump);
    socket.write(Buffer.from(auth === undefined ? [5, 1, 0] : [5, 1, 2]));
    expect(2, (hello) => {
      if (hello[0] !== 5) return fail(`not a SOCKS5 server (greeting ${hello.toString('hex')})`);
      if (auth === undefined) {
        if (hello[1] !== 0) return fail(`wants authentication (method ${hello[1]})`);
        return connectRequest();
      }
      if (hello[1] !== 2)
        return fail(
          `did not accept username/password authentication, which carries the PT arguments (method ${hello[1]})`,
        );
      socket.write(auth);
      expect(2, (status) => {
        if (status[1] !== 0) return fail(`refused the PT arguments (status ${status[1]})`);
        connectRequest();
      });
    });
  });
}
