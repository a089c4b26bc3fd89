/**
 * Drives the server half of an obfs session (the part a stranger on the internet talks to) and
 * records what it decided, as the SDK would see it: the bytes pushed upstream, the failover
 * redirect, early replies, and the verdict from the session's debug log.
 */
import type { Logger } from '../packages/sdk/src/index.ts';
import { MAX_FIRST_PACKET } from '../packages/obfs-http-plugin/src/constants.ts';
import {
  createObfsSession,
  type ObfsSessionOptions,
} from '../packages/obfs-http-plugin/src/session.ts';
import { CodecRunner, fakeContext } from '../packages/obfs-http-plugin/test/helpers.ts';
import { PROTOCOL_ONLY, check, expectedCode, type CodecOutcome } from './invariants.ts';

export const FAILOVER = { host: '192.0.2.80', port: 80 } as const;

export interface ServerOutcome extends CodecOutcome {
  readonly verdict: 'accepted' | 'rejected' | 'undecided';
  /** Why it was rejected (the session's debug reason). */
  readonly reason: string | undefined;
  readonly redirects: number;
  readonly responses: number;
}

/**
 * Feeds `pieces` to a server session's decode side, then ends it. Checks on the way that a
 * session without a verdict never holds MAX_FIRST_PACKET bytes or more (the first-packet cap),
 * that a rejection forwards every byte unchanged to the failover, and that once the stream has
 * ended there is a verdict.
 */
export function runServerSession(
  options: ObfsSessionOptions,
  pieces: readonly Buffer[],
): ServerOutcome {
  // Written by the logger below, which TypeScript's narrowing cannot see: hence an object.
  const seen: { verdict: ServerOutcome['verdict']; reason: string | undefined } = {
    verdict: 'undecided',
    reason: undefined,
  };
  // The verdict is only visible in the debug log: these are session.ts's two debug messages.
  const log: Logger = {
    error: () => undefined,
    warn: () => undefined,
    info: () => undefined,
    debug(message, fields) {
      if (message === 'obfuscated handshake accepted') seen.verdict = 'accepted';
      else if (message === 'not obfuscated, relaying raw') {
        seen.verdict = 'rejected';
        seen.reason = String(fields?.['reason']);
      }
    },
    debugEnabled: true,
    child: () => log,
  };
  const ctx = { ...fakeContext('server'), log };
  const decode = new CodecRunner(createObfsSession(ctx, options).decode);
  let fed = 0;
  let error: string | undefined;
  try {
    for (const piece of pieces) {
      decode.write(piece);
      fed += piece.length;
      check(
        seen.verdict !== 'undecided' || fed < MAX_FIRST_PACKET,
        () => `no verdict after ${fed} bytes (the cap is ${MAX_FIRST_PACKET})`,
      );
    }
    decode.end();
  } catch (thrown) {
    error = expectedCode(thrown, PROTOCOL_ONLY);
    check(
      seen.verdict === 'accepted',
      () => `threw ${error} while ${seen.verdict}: only accepted streams can`,
    );
  }
  const output = decode.output;
  const input = Buffer.concat(pieces);
  if (error === undefined) {
    check(
      seen.verdict !== 'undecided' || input.length === 0,
      () => `the stream ended after ${input.length} bytes without a verdict`,
    );
  }
  if (seen.verdict === 'rejected') {
    check(
      ctx.redirects.length === 1 && output.equals(input),
      () =>
        `rejected (${seen.reason}) but sent ${output.length} of ${input.length} bytes to ${ctx.redirects.length} failovers`,
    );
  } else {
    check(ctx.redirects.length === 0, () => `${seen.verdict} but redirected`);
  }
  return {
    verdict: seen.verdict,
    reason: seen.reason,
    output,
    error,
    redirects: ctx.redirects.length,
    responses: ctx.responses.length,
  };
}
