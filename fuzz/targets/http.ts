/**
 * HTTP mode (spec §2): the server's request detector, reached by any peer of a server plugin,
 * and the client's response parser, reached by whatever answers on the server's address.
 */
import fc from 'fast-check';
import { MAX_FIRST_PACKET } from '../../packages/obfs-http-plugin/src/constants.ts';
import { HttpResponseDecoder } from '../../packages/obfs-http-plugin/src/http/client.ts';
import { responseHeader } from '../../packages/obfs-http-plugin/src/http/response.ts';
import { ascii, sessionOptions } from '../../packages/obfs-http-plugin/test/helpers.ts';
import { cuts, mutated, noise, payload, split } from '../inputs.ts';
import { check, runCodec, sameOutcome } from '../invariants.ts';
import { FAILOVER, runServerSession, type ServerOutcome } from '../server-session.ts';
import type { FuzzTarget } from '../target.ts';

const CRLFCRLF = ascii('\r\n\r\n');

const requestLine = fc.constantFrom(
  'GET / HTTP/1.1',
  'get /chat HTTP/1.1',
  'GeT',
  'GET',
  'GE',
  'POST / HTTP/1.1',
  '',
);
const knownHeader = fc.constantFrom(
  'Host: www.example.com',
  'Host: www.example.com:8388',
  'host:WWW.EXAMPLE.COM',
  'Host:  www.example.com:80:8388',
  'Host: other.example',
  'Host:',
  'Host: :',
  'Upgrade: websocket',
  'upgrade:websocket',
  'Upgrade: web',
  'Upgrade: ',
  'Upgrade:',
  'Upgrade: websocketx',
  'Upgrade: WebSocket',
  'Connection: Upgrade',
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
  'Sec-WebSocket-Key:',
  'Content-Length: 10',
);
const header = fc.oneof(
  { weight: 3, arbitrary: knownHeader },
  { weight: 1, arbitrary: fc.string({ maxLength: 24 }) },
);
/** A header that fills the first packet: the verdict must come at the cap, not after it. */
const bigHeader = fc.integer({ min: 16_330, max: 16_400 }).map((n) => `X: ${'a'.repeat(n)}`);
/** Mostly CR LF; sometimes the endings obfs-local never sends. */
const eol = fc.oneof(
  { weight: 12, arbitrary: fc.constant('\r\n') },
  { weight: 1, arbitrary: fc.constantFrom('\n', '\r', '', '\r\r\n') },
);
/** obfs-local's header lines in its order (§2.1), the Host sometimes with a port. */
const obfsLocalHeaders = fc
  .constantFrom('www.example.com', 'www.example.com:8388', 'WWW.example.COM')
  .map((host) => [
    `Host: ${host}`,
    'User-Agent: curl/7.1.1',
    'Upgrade: websocket',
    'Connection: Upgrade',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    'Content-Length: 3',
  ]);
/** Header lines: obfs-local's with other lines slipped in, or a free mix. */
const headerLines = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .tuple(obfsLocalHeaders, fc.array(fc.tuple(header, fc.nat()), { maxLength: 3 }))
      .map(([lines, extras]) => {
        const out = [...lines];
        for (const [line, at] of extras) out.splice(at % (out.length + 1), 0, line);
        return out;
      }),
  },
  { weight: 1, arbitrary: fc.array(header, { maxLength: 6 }) },
);
const request = mutated(
  fc
    .tuple(
      fc.oneof(
        { weight: 4, arbitrary: fc.constant('GET / HTTP/1.1') },
        { weight: 1, arbitrary: requestLine },
      ),
      headerLines.chain((lines) => fc.tuple(...lines.map((line) => eol.map((end) => line + end)))),
      fc.oneof({ weight: 60, arbitrary: fc.constant('') }, { weight: 1, arbitrary: bigHeader }),
      eol,
      payload,
    )
    .map(([line, headers, big, blank, body]) =>
      Buffer.concat([
        Buffer.from(`${line}\r\n${headers.join('')}${big && `${big}\r\n`}${blank}`, 'utf8'),
        body,
      ]),
    ),
);

/** ASCII case folding only, like strncasecmp in the C locale. */
const fold = (text: string): string => text.replace(/[A-Z]/g, (c) => c.toLowerCase());

/**
 * §2.3 as an oracle, read from the spec's list of 0.0.5's rules rather than from the detector:
 * GET, CR LF lines, the first Upgrade header a prefix of `websocket`, the first Host header (cut
 * at its last colon) equal to obfs-host, all within the first MAX_FIRST_PACKET bytes.
 */
function oracleRequest(input: Buffer, host: string | undefined): ServerOutcome['verdict'] {
  const text = input.toString('latin1');
  if (fold(text.slice(0, 3)) !== 'get') return 'rejected';
  const wanted = host === undefined ? undefined : Buffer.from(host, 'utf8').toString('latin1');
  let upgrade = false;
  let hostSeen = false;
  // The request line: only its ending matters.
  const end = text.indexOf('\n');
  if (end === -1 || end >= MAX_FIRST_PACKET || text[end - 1] !== '\r') return 'rejected';
  for (let at = end + 1; ;) {
    const lf = text.indexOf('\n', at);
    if (lf === -1 || lf >= MAX_FIRST_PACKET) return 'rejected';
    if (lf === at || text[lf - 1] !== '\r') return 'rejected';
    const line = text.slice(at, lf - 1);
    at = lf + 1;
    if (line === '') return upgrade && (wanted === undefined || hostSeen) ? 'accepted' : 'rejected';
    const name = fold(line);
    if (!upgrade && line.length > 8 && name.startsWith('upgrade:')) {
      upgrade = true;
      if (!'websocket'.startsWith(line.slice(8).replace(/^[ \t]+/, ''))) return 'rejected';
    } else if (wanted !== undefined && !hostSeen && line.length > 5 && name.startsWith('host:')) {
      hostSeen = true;
      const value = line.slice(5).replace(/^[ \t]+/, '');
      const colon = value.lastIndexOf(':');
      if (fold(colon === -1 ? value : value.slice(0, colon)) !== fold(wanted)) return 'rejected';
    }
  }
}

function sameVerdict(whole: ServerOutcome, cut: ServerOutcome): void {
  check(
    whole.verdict === cut.verdict &&
      whole.error === cut.error &&
      whole.output.equals(cut.output) &&
      whole.responses === cut.responses,
    () =>
      `whole input: ${whole.verdict} (${whole.reason ?? ''}) ${whole.output.length} bytes; ` +
      `split: ${cut.verdict} (${cut.reason ?? ''}) ${cut.output.length} bytes`,
  );
}

export const httpRequest: FuzzTarget = {
  name: 'http-request',
  reaches:
    'server: the first bytes of every connection (HttpRequestDetector + first-packet buffer)',
  check: (parameters) =>
    fc.check(
      fc.property(
        fc.oneof({ weight: 4, arbitrary: request }, { weight: 1, arbitrary: noise }),
        fc.constantFrom(undefined, 'www.example.com'),
        fc.boolean(),
        split,
        (input, serverObfsHost, reverseProxy, cut) => {
          const options = sessionOptions({
            obfs: 'http',
            serverObfsHost,
            reverseProxy,
            failover: FAILOVER,
          });
          const whole = runServerSession(options, [input]);
          const expected = oracleRequest(input, serverObfsHost);
          if (input.length > 0) {
            check(
              whole.verdict === expected,
              () => `verdict ${whole.verdict} (${whole.reason ?? ''}), the spec says ${expected}`,
            );
          }
          if (whole.verdict === 'accepted') {
            // Accepted only on a CR LF-only header: the payload is everything after its end.
            const end = input.indexOf(CRLFCRLF);
            check(
              end !== -1 && whole.output.equals(input.subarray(end + 4)),
              () =>
                `accepted, but forwarded ${whole.output.length} bytes, not the body after byte ${end}`,
            );
            check(
              whole.responses === (reverseProxy ? 1 : 0),
              () => `reverse_proxy=${reverseProxy} but ${whole.responses} early replies`,
            );
          }
          for (const pieces of cuts(input, cut))
            sameVerdict(whole, runServerSession(options, pieces));
        },
      ),
      parameters,
    ),
};

const response = mutated(
  payload.map((body) =>
    Buffer.concat([
      ascii(responseHeader('dGhlIHNhbXBsZSBub25jZQ==', new Date(Date.UTC(2026, 0, 1)))),
      body,
    ]),
  ),
);
const noBlankLine = fc
  .integer({ min: MAX_FIRST_PACKET - 8, max: MAX_FIRST_PACKET + 8 })
  .map((n) => Buffer.concat([ascii('HTTP/1.1 101 OK\r\nX: '), Buffer.alloc(n, 0x61), CRLFCRLF]));

export const httpResponse: FuzzTarget = {
  name: 'http-response',
  reaches: 'client: every byte the server address sends back (HttpResponseDecoder)',
  check: (parameters) =>
    fc.check(
      fc.property(
        fc.oneof(
          { weight: 8, arbitrary: response },
          { weight: 2, arbitrary: noise },
          { weight: 1, arbitrary: noBlankLine },
        ),
        split,
        (input, cut) => {
          const whole = runCodec(new HttpResponseDecoder(), [input]);
          // Oracle: the header ends at the first CR LF CR LF, if that lies within the cap.
          const end = input.indexOf(CRLFCRLF);
          if (end !== -1 && end + 4 <= MAX_FIRST_PACKET) {
            check(
              whole.error === undefined && whole.output.equals(input.subarray(end + 4)),
              () => `header ends at ${end + 4}, got ${whole.output.length} bytes / ${whole.error}`,
            );
          } else {
            check(
              whole.output.length === 0 && (whole.error !== undefined) === input.length > 0,
              () =>
                `no header end within the cap, got ${whole.output.length} bytes / ${whole.error}`,
            );
          }
          for (const pieces of cuts(input, cut)) {
            sameOutcome(whole, runCodec(new HttpResponseDecoder(), pieces), 'http-response');
          }
        },
      ),
      parameters,
    ),
};
