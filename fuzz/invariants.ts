/**
 * What every fuzz target checks, in one place: the only error a parser may throw on peer bytes is
 * a ProtocolError (matched on `code`, as a bundled plugin would), and a codec's outcome (bytes
 * out, error or not) is the same whatever the reads were.
 */
import { ErrorCode, isPluginError } from '../packages/sdk/src/index.ts';
import { CodecRunner } from '../packages/obfs-http-plugin/test/helpers.ts';
import type { Codec } from '../packages/sdk/src/index.ts';

/** An invariant does not hold: the fuzzer reports the input and shrinks it. */
export class InvariantError extends Error {}
InvariantError.prototype.name = 'InvariantError';

export function check(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new InvariantError(message());
}

/**
 * Returns the error's code when it is one of `codes`; any other throw (a TypeError, a RangeError,
 * a PluginError with another code) is a finding and becomes an InvariantError naming it.
 */
export function expectedCode(error: unknown, codes: readonly string[]): string {
  if (error instanceof InvariantError) throw error;
  if (isPluginError(error) && codes.includes(error.code)) {
    // Errors reach users as one log or stderr line (COMMON rule: one-line errors).
    check(
      !error.message.includes('\n'),
      () => `${error.code} message spans lines: ${error.message}`,
    );
    return error.code;
  }
  const name = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  throw new InvariantError(`threw ${name}, expected only ${codes.join(' or ')}`);
}

export const PROTOCOL_ONLY = [ErrorCode.PROTOCOL] as const;

/** What a codec did with a whole stream: the bytes it pushed, and the error code it stopped with. */
export interface CodecOutcome {
  readonly output: Buffer;
  readonly error: string | undefined;
}

/** Feeds `pieces` then ends, as the SDK does; stops at the first (ProtocolError-only) throw. */
export function runCodec(codec: Codec, pieces: readonly Buffer[]): CodecOutcome {
  const runner = new CodecRunner(codec);
  try {
    runner.write(...pieces).end();
    return { output: runner.output, error: undefined };
  } catch (error) {
    return { output: runner.output, error: expectedCode(error, PROTOCOL_ONLY) };
  }
}

export function sameOutcome(a: CodecOutcome, b: CodecOutcome, what: string): void {
  check(
    a.error === b.error && a.output.equals(b.output),
    () => `${what}: whole input gave ${describe(a)}, split input gave ${describe(b)}`,
  );
}

function describe(o: CodecOutcome): string {
  return (
    `${o.output.length} bytes out (${o.output.toString('hex', 0, 16)}...)` +
    (o.error === undefined ? '' : ` then ${o.error}`)
  );
}
