import { constants, createDeflate, createInflate, deflateSync } from 'node:zlib';
import { describe, it, expect } from 'vitest';
import { definePlugin, ProtocolError, type Codec, type Push } from '../src/index.ts';
import { compose, lengthPrefixed } from '../src/codecs/index.ts';
import {
  checkCodecRoundTrip,
  checkCodecSplits,
  conformanceSteps,
  runCodec,
  seededBytes,
} from '../src/testing/index.ts';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Prefixes every chunk with `tag` and pushes `tag` + "end" on flush. */
function tagged(tag: string): Codec {
  return {
    transform(chunk, push) {
      push(Buffer.from(tag));
      push(chunk);
    },
    flush(push) {
      push(Buffer.from(`${tag}end`));
    },
  };
}

/** Upper-cases ASCII letters, answering every other call with a promise. */
function slowUpper(): Codec {
  let calls = 0;
  return {
    async transform(chunk, push) {
      if (calls++ % 2 === 0) await tick();
      push(Buffer.from(chunk.toString('latin1').toUpperCase(), 'latin1'));
    },
    async flush(push) {
      await tick();
      push(Buffer.from('!'));
    },
  };
}

describe('compose', () => {
  it('runs codecs in order, flushes each through the ones after it, and stays synchronous', () => {
    const codec = compose(tagged('a'), tagged('b'));
    const out: string[] = [];
    const push: Push = (d) => out.push(Buffer.from(d).toString());
    expect(codec.transform(Buffer.from('x'), push)).toBeUndefined();
    expect(codec.flush?.(push)).toBeUndefined();
    expect(out.join('')).toBe('babxbaendbend');
  });

  it('keeps order through a codec that answers with promises', async () => {
    const chunks = Array.from({ length: 50 }, (_, i) => Buffer.from(`c${i};`));
    const out = await runCodec(compose(tagged('a'), slowUpper(), tagged('z')), chunks);
    const expected = chunks.map((c) => `zAzC${c.toString().slice(1).toUpperCase()}`).join('');
    expect(out.toString()).toBe(`${expected}zAEND` + 'z!zend');
  });

  it('returns the one codec it is given, and an identity codec for none', async () => {
    const only = tagged('a');
    expect(compose(only)).toBe(only);
    expect(await runCodec(compose(), [Buffer.from('same')])).toEqual(Buffer.from('same'));
  });

  it('chains Duplex streams with codecs: zlib then framing, and back, under every split', async () => {
    const report = await checkCodecSplits(
      () =>
        compose(
          createDeflate({ flush: constants.Z_SYNC_FLUSH }),
          lengthPrefixed({ maxFrame: 16 }).encode,
        ),
      () => compose(lengthPrefixed({ maxFrame: 16 }).decode, createInflate()),
      // The empty sample: a zlib stage that got nothing emits nothing (no header to choke on).
      [Buffer.alloc(0), seededBytes(40, 1), Buffer.from('hello hello hello hello')],
    );
    expect(report.runs).toBeGreaterThan(100);
  });

  it('pauses a Duplex while the codec after it is busy (backpressure)', async () => {
    // 8 MiB of zeros inflate from a few KiB: without backpressure all of it would queue at once.
    const inflate = createInflate({ chunkSize: 16 * 1024 });
    let pausedSeen = false;
    let bytes = 0;
    const slow: Codec = {
      async transform(chunk) {
        await tick();
        pausedSeen ||= inflate.isPaused();
        bytes += chunk.length;
      },
    };
    await runCodec(compose(inflate, slow), [deflateSync(Buffer.alloc(8 << 20))]);
    expect(bytes).toBe(8 << 20);
    expect(pausedSeen).toBe(true);
  });

  it('fails with the first error of any stage: thrown, rejected, or a Duplex error', async () => {
    const bad: Codec = {
      transform() {
        throw new ProtocolError('bad frame');
      },
    };
    expect(() => compose(tagged('a'), bad).transform(Buffer.from('x'), () => undefined)).toThrow(
      'bad frame',
    );
    const rejecting: Codec = {
      async transform() {
        await tick();
        throw new ProtocolError('late bad frame');
      },
    };
    await expect(runCodec(compose(tagged('a'), rejecting), [Buffer.from('x')])).rejects.toThrow(
      'late bad frame',
    );
    await expect(
      runCodec(compose(createInflate(), tagged('a')), [seededBytes(100)]),
    ).rejects.toMatchObject({ code: 'Z_DATA_ERROR' });
  });

  it('runs in a plugin pair: async codec, zlib and framing composed pass the conformance check', async () => {
    const plugin = definePlugin({
      name: 'composed',
      session: () => ({
        encode: compose(
          slowUpperInverse(),
          createDeflate({ flush: constants.Z_SYNC_FLUSH }),
          lengthPrefixed().encode,
        ),
        decode: compose(lengthPrefixed().decode, createInflate(), slowUpperInverse()),
      }),
    });
    const report = await checkCodecRoundTrip(plugin, { largeBytes: 2 << 20 });
    expect(report.steps.map((s) => s.name)).toEqual(conformanceSteps);
  }, 120_000);
});

/** XOR 0x20, its own inverse, answering every third call with a promise. */
function slowUpperInverse(): Codec {
  let calls = 0;
  return {
    async transform(chunk, push) {
      if (calls++ % 3 === 0) await tick();
      push(chunk.map((b) => b ^ 0x20));
    },
  };
}
