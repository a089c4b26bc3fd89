/**
 * TLS mode (spec §3): the server's ClientHello detector and session-ticket reader, reached by any
 * peer of a server plugin; the client's ServerHello/flight parser; and the record decoder both
 * sides run on every byte after the handshake. Each is checked against a small oracle written
 * from the spec, not from the code under test.
 */
import fc from 'fast-check';
import {
  MAX_FIRST_PACKET,
  MAX_RECORD_PAYLOAD,
  SERVER_FLIGHT_PREFIX,
  TICKET_OFFSET,
} from '../../packages/obfs-http-plugin/src/constants.ts';
import {
  buildClientHello,
  ServerFlightDecoder,
} from '../../packages/obfs-http-plugin/src/tls/client.ts';
import { pushRecords, RecordDecoder } from '../../packages/obfs-http-plugin/src/tls/records.ts';
import { buildServerFlight } from '../../packages/obfs-http-plugin/src/tls/server.ts';
import { sessionOptions } from '../../packages/obfs-http-plugin/test/helpers.ts';
import { bulk, cuts, mutated, noise, payload, split } from '../inputs.ts';
import { check, runCodec, sameOutcome, type CodecOutcome } from '../invariants.ts';
import { FAILOVER, runServerSession, type ServerOutcome } from '../server-session.ts';
import type { FuzzTarget } from '../target.ts';

/** §3.3-3.4 step 6 as an oracle: application-data records, payloads concatenated. */
function oracleRecords(stream: Buffer): CodecOutcome {
  const out: Buffer[] = [];
  let at = 0;
  while (at < stream.length) {
    if (stream.length - at < 5) return { output: Buffer.concat(out), error: 'truncated' };
    if (stream[at] !== 0x17 || stream[at + 1] !== 0x03 || stream[at + 2] !== 0x03)
      return { output: Buffer.concat(out), error: 'type' };
    const length = stream.readUInt16BE(at + 3);
    if (length > MAX_RECORD_PAYLOAD) return { output: Buffer.concat(out), error: 'length' };
    const end = Math.min(stream.length, at + 5 + length);
    out.push(stream.subarray(at + 5, end));
    if (end < at + 5 + length) return { output: Buffer.concat(out), error: 'truncated' };
    at = end;
  }
  return { output: Buffer.concat(out), error: undefined };
}

/** Same bytes out and an error exactly when the oracle has one (oracle errors name no code). */
function matchesOracle(got: CodecOutcome, oracle: CodecOutcome, what: string): void {
  check(
    got.output.equals(oracle.output) && (got.error === undefined) === (oracle.error === undefined),
    () =>
      `${what}: ${got.output.length} bytes out, error ${got.error}; ` +
      `the spec gives ${oracle.output.length} bytes, error ${oracle.error}`,
  );
}

const records = fc.array(payload, { maxLength: 4 }).map((payloads) => {
  const pushed: Buffer[] = [];
  for (const p of payloads) pushRecords(p, (data) => pushed.push(Buffer.from(data)));
  return Buffer.concat(pushed);
});
/** Record headers made up field by field: type and version mostly right, any length. */
const forgedRecords = fc
  .array(
    fc.tuple(
      fc.oneof(
        { weight: 8, arbitrary: fc.constant([0x17, 0x03, 0x03]) },
        { weight: 1, arbitrary: fc.array(fc.nat(255), { minLength: 3, maxLength: 3 }) },
      ),
      fc.oneof(
        fc.constantFrom(0, 1, MAX_RECORD_PAYLOAD - 1, MAX_RECORD_PAYLOAD, MAX_RECORD_PAYLOAD + 1),
        fc.nat(0xffff),
      ),
      fc.nat(64),
    ),
    { minLength: 1, maxLength: 4 },
  )
  .map((list) =>
    Buffer.concat(
      list.map(([type, length, sent]) => {
        const header = Buffer.from([...type, length >> 8, length & 0xff]);
        // The whole payload when it is short, else up to 64 bytes of it (a cut record).
        return Buffer.concat([header, Buffer.alloc(length <= 64 ? length : sent, 0x61)]);
      }),
    ),
  );
/** Records, sometimes with the tiny-record pattern of issue 9 (`17 03 03 00 01 61` repeated). */
const recordStream = fc.oneof(
  { weight: 4, arbitrary: mutated(records, [0, 1, 2, 3, 4]) },
  { weight: 3, arbitrary: forgedRecords },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 1, max: 300 })
      .map((n) => Buffer.from('170303000161'.repeat(n), 'hex')),
  },
  { weight: 2, arbitrary: noise },
);

export const tlsRecords: FuzzTarget = {
  name: 'tls-records',
  reaches: 'both sides: every byte after the TLS handshake (RecordDecoder)',
  check: (parameters) =>
    fc.check(
      fc.property(fc.array(payload, { maxLength: 3 }), recordStream, split, (sent, input, cut) => {
        // Round trip: what pushRecords frames, RecordDecoder gives back byte for byte.
        const framed: Buffer[] = [];
        for (const p of sent) pushRecords(p, (data) => framed.push(Buffer.from(data)));
        const back = runCodec(new RecordDecoder(), framed);
        check(
          back.error === undefined && back.output.equals(Buffer.concat(sent)),
          () => `round trip of ${sent.length} payloads failed: ${back.error}`,
        );
        const whole = runCodec(new RecordDecoder(), [input]);
        matchesOracle(whole, oracleRecords(input), 'tls-records');
        for (const pieces of cuts(input, cut))
          sameOutcome(whole, runCodec(new RecordDecoder(), pieces), 'tls-records');
      }),
      parameters,
    ),
};

/** Offsets obfs-server decides on (§3.4): fixed bytes, hello length, ticket type and length. */
const HELLO_FIELDS = [0, 1, 2, 3, 5, 7, 9, 10, 136, 138, 139, 140, 141];
/** Offsets obfs-local decides on (§3.5): byte 0, the lengths, F at 105, the first record. */
const FLIGHT_FIELDS = [0, 3, 105, 106, 107, 110];

/** A ClientHello as our client builds it, with fixed random and session id (reproducible). */
const hello = fc
  .tuple(
    fc.constantFrom('www.example.com', 'a', 'x'.repeat(255)),
    fc.oneof({ weight: 50, arbitrary: payload }, { weight: 1, arbitrary: bulk(1200, 16_300) }),
    fc.oneof(records, forgedRecords),
  )
  .map(([host, ticket, rest]) => {
    const { packet, consumed } = buildClientHello(Buffer.from(host), ticket, 0, MAX_FIRST_PACKET);
    packet.fill(0x5a, 15, 76);
    const tail: Buffer[] = [];
    if (consumed < ticket.length)
      pushRecords(ticket.subarray(consumed), (d) => tail.push(Buffer.from(d)));
    return Buffer.concat([packet, ...tail, rest]);
  });

/** §3.4 as an oracle: the verdict and the bytes an accepted hello yields (ticket, then records). */
function oracleHello(input: Buffer): { verdict: ServerOutcome['verdict']; output?: CodecOutcome } {
  const fixed: readonly (readonly [number, number])[] = [
    [0, 0x16],
    [1, 0x03],
    [2, 0x01],
    [5, 0x01],
    [9, 0x03],
    [10, 0x03],
  ];
  if (input.length === 0) return { verdict: 'undecided' };
  for (const [offset, value] of fixed)
    if (offset < input.length && input[offset] !== value) return { verdict: 'rejected' };
  if (input.length < 5) return { verdict: 'rejected' }; // ended before a verdict
  const helloLength = 5 + input.readUInt16BE(3);
  if (
    helloLength > MAX_FIRST_PACKET ||
    helloLength < TICKET_OFFSET ||
    input.length < TICKET_OFFSET - 2
  )
    return { verdict: 'rejected' };
  if (input[138] !== 0x00 || input[139] !== 0x23 || input.length < TICKET_OFFSET)
    return { verdict: 'rejected' };
  const ticketEnd = TICKET_OFFSET + input.readUInt16BE(140);
  if (ticketEnd > helloLength || input.length < helloLength) return { verdict: 'rejected' };
  const rest = oracleRecords(input.subarray(helloLength));
  return {
    verdict: 'accepted',
    output: {
      output: Buffer.concat([input.subarray(TICKET_OFFSET, ticketEnd), rest.output]),
      error: rest.error,
    },
  };
}

export const tlsClientHello: FuzzTarget = {
  name: 'tls-client-hello',
  reaches:
    'server: the first bytes of every connection (ClientHelloDetector, session ticket, first records)',
  check: (parameters) =>
    fc.check(
      fc.property(
        fc.oneof(
          { weight: 5, arbitrary: mutated(hello, HELLO_FIELDS) },
          { weight: 1, arbitrary: noise },
        ),
        split,
        (input, cut) => {
          const options = sessionOptions({ obfs: 'tls', failover: FAILOVER });
          const whole = runServerSession(options, [input]);
          const oracle = oracleHello(input);
          // §3.4 step 7: a framing error inside the first packet rejects it; in one read, the
          // whole input is the first packet.
          // A record cut short by the end of the stream fails only at the end, after acceptance.
          const framing = oracle.output?.error !== undefined && oracle.output.error !== 'truncated';
          const expected = framing ? 'rejected' : oracle.verdict;
          check(
            whole.verdict === expected,
            () => `verdict ${whole.verdict} (${whole.reason ?? ''}), the spec says ${expected}`,
          );
          if (expected === 'accepted' && oracle.output !== undefined)
            matchesOracle(whole, oracle.output, 'ticket + records');
          for (const pieces of cuts(input, cut)) {
            const split = runServerSession(options, pieces);
            // The same rule makes the verdict depend on where the first read ends when a bad
            // record follows a complete hello: one read rejects it, later reads fail the stream.
            if (expected === 'rejected' && oracle.verdict === 'accepted') {
              check(
                split.verdict === 'rejected' || split.error !== undefined,
                () => `a bad record after the hello was ${split.verdict} without an error`,
              );
              continue;
            }
            check(
              split.verdict === whole.verdict &&
                split.error === whole.error &&
                split.output.equals(whole.output),
              () =>
                `whole: ${whole.verdict} ${whole.output.length} bytes ${whole.error}; split: ${split.verdict} ${split.output.length} bytes ${split.error}`,
            );
          }
        },
      ),
      parameters,
    ),
};

const flight = fc
  .tuple(
    fc.oneof(
      { weight: 5, arbitrary: payload },
      { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
    ),
    fc.oneof(records, forgedRecords),
  )
  .map(([finished, rest]) => {
    const { packet } = buildServerFlight(Buffer.alloc(32, 0x5a), finished, 0);
    packet.fill(0x5a, 15, 43);
    return Buffer.concat([packet, rest]);
  });

/** §3.5 as an oracle: byte 0 is 16, F (u16 at 105) <= 16384 bytes pass raw, then records. */
function oracleFlight(input: Buffer): CodecOutcome {
  if (input.length === 0) return { output: Buffer.alloc(0), error: undefined };
  if (input[0] !== 0x16 || input.length < SERVER_FLIGHT_PREFIX)
    return { output: Buffer.alloc(0), error: 'prefix' };
  const finished = input.readUInt16BE(SERVER_FLIGHT_PREFIX - 2);
  if (finished > MAX_RECORD_PAYLOAD) return { output: Buffer.alloc(0), error: 'finished length' };
  const raw = input.subarray(SERVER_FLIGHT_PREFIX, SERVER_FLIGHT_PREFIX + finished);
  if (raw.length < finished) return { output: raw, error: 'truncated' };
  const rest = oracleRecords(input.subarray(SERVER_FLIGHT_PREFIX + finished));
  return { output: Buffer.concat([raw, rest.output]), error: rest.error };
}

export const tlsServerHello: FuzzTarget = {
  name: 'tls-server-hello',
  reaches: 'client: every byte the server address sends back (ServerFlightDecoder)',
  check: (parameters) =>
    fc.check(
      fc.property(
        fc.oneof(
          { weight: 5, arbitrary: mutated(flight, FLIGHT_FIELDS) },
          { weight: 1, arbitrary: noise },
        ),
        split,
        (input, cut) => {
          const whole = runCodec(new ServerFlightDecoder(), [input]);
          matchesOracle(whole, oracleFlight(input), 'tls-server-hello');
          for (const pieces of cuts(input, cut))
            sameOutcome(whole, runCodec(new ServerFlightDecoder(), pieces), 'tls-server-hello');
        },
      ),
      parameters,
    ),
};
