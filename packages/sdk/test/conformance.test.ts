import { describe, it, expect } from 'vitest';
import { definePlugin, option, ProtocolError, type Codec } from '../src/index.ts';
import {
  checkCodecRoundTrip,
  conformanceSteps,
  startEchoServer,
  startPluginPair,
} from '../src/testing/index.ts';
import { logCollector } from './helpers.ts';
import resettingPlugin from './fixtures/resetting-plugin.ts';
import { zlibFlushPlugin, zlibNoFlushPlugin } from './fixtures/zlib-plugin.ts';

const small = { largeBytes: 1 << 20 };

describe('checkCodecRoundTrip', () => {
  it('passes a plugin that resets garbage with a ProtocolError, with no unhandled rejection', async () => {
    const report = await checkCodecRoundTrip(resettingPlugin, small);
    expect(report.steps.map((s) => s.name)).toEqual(conformanceSteps);
    expect(report.skipped).toEqual([]);
  }, 120_000);

  it('passes a zlib Duplex plugin that flushes every write (Z_SYNC_FLUSH)', async () => {
    const report = await checkCodecRoundTrip(zlibFlushPlugin, small);
    expect(report.steps.map((s) => s.name)).toEqual(conformanceSteps);
  }, 120_000);

  it('fails a zlib Duplex plugin without sync flush: it held bytes until end of stream', async () => {
    await expect(
      checkCodecRoundTrip(zlibNoFlushPlugin, { ...small, replyTimeoutMs: 1500 }),
    ).rejects.toThrow(
      /^checkCodecRoundTrip step "request-response-without-fin" \(.*\): 0 of the 1 bytes of reply 1 arrived within 1500 ms while both ends were open: the codec held bytes until end of stream/,
    );
  }, 120_000);

  it('says a reset is a reset, not held bytes, in the exchange without FIN', async () => {
    // The server side refuses a connection once it has seen more than 50 bytes.
    const impatient = definePlugin({
      name: 'impatient',
      session: (ctx) => {
        let seen = 0;
        const decode: Codec = {
          transform(chunk, push) {
            seen += chunk.length;
            if (ctx.mode === 'server' && seen > 50) throw new ProtocolError('too much');
            push(chunk);
          },
        };
        return { decode };
      },
    });
    await expect(
      checkCodecRoundTrip(impatient, {
        skip: conformanceSteps.filter((name) => name !== 'request-response-without-fin'),
      }),
    ).rejects.toThrow(
      /^checkCodecRoundTrip step "request-response-without-fin" \(.*\): 0 of the 100 bytes of reply 2 arrived, then the connection (failed \(read ECONNRESET\)|closed)$/,
    );
  });

  it('names the failing step and where the bytes differ', async () => {
    // The client side corrupts byte 300000 of every upload (were both sides to do it, the echo
    // would be repaired on its way back): the first step that long is the large transfer.
    const corrupting = definePlugin({
      name: 'corrupting',
      session: (ctx) => {
        if (ctx.mode === 'server') return {};
        let seen = 0;
        const encode: Codec = {
          transform(chunk, push) {
            const at = 300_000 - seen;
            seen += chunk.length;
            if (at >= 0 && at < chunk.length) {
              chunk = Buffer.from(chunk);
              chunk[at] = chunk[at]! ^ 1;
            }
            push(chunk);
          },
        };
        return { encode };
      },
    });
    await expect(checkCodecRoundTrip(corrupting, small)).rejects.toThrow(
      /^checkCodecRoundTrip step "large-transfer" \(1 MiB up and back\): echo: received 1048576 bytes \(sha256 \w+\), expected 1048576 \(sha256 \w+\); first difference at byte 300000$/,
    );
  }, 120_000);

  it('names the step when a socket error ends it (a plugin that resets everything)', async () => {
    const refusing = definePlugin({
      name: 'refusing',
      session: () => ({
        decode: {
          transform() {
            throw new ProtocolError('refusing everything');
          },
        },
      }),
    });
    await expect(checkCodecRoundTrip(refusing, small)).rejects.toThrow(
      /^checkCodecRoundTrip step "small-echo" \(1000 bytes, one write\): (read ECONNRESET|collect: the socket closed before its end)/,
    );
  }, 60_000);

  it('skips the steps it is asked to skip and logs the plugins and the steps to the sink', async () => {
    const { lines, sink } = logCollector();
    const keep = ['small-echo', 'garbage-to-server'] as const;
    const report = await checkCodecRoundTrip(resettingPlugin, {
      ...small,
      logSink: sink,
      skip: conformanceSteps.filter((name) => !(keep as readonly string[]).includes(name)),
    });
    expect(report.steps.map((s) => s.name)).toEqual(keep);
    expect(report.skipped).toEqual(
      conformanceSteps.filter((name) => !keep.includes(name as never)),
    );
    expect(lines).toContain('checkCodecRoundTrip step "small-echo" (1000 bytes, one write)');
    expect(lines.some((l) => l.startsWith('resetting-plugin info listening'))).toBe(true);
    expect(lines.some((l) => /^resetting-plugin warn .*XOR1 magic/.test(l))).toBe(true);
  }, 60_000);

  it('refuses an unknown step name in the skip list', async () => {
    await expect(
      checkCodecRoundTrip(resettingPlugin, { skip: ['large transfer' as never] }),
    ).rejects.toThrow(
      /^checkCodecRoundTrip: skip: expected step names from small-echo, .*, got "large transfer"$/,
    );
  });

  it('types the options from the plugin', async () => {
    const padded = definePlugin({
      name: 'padded',
      options: { 'pad-min': option.int({ min: 0, max: 255, default: 0 }) },
    });
    const echo = await startEchoServer();
    try {
      const pair = await startPluginPair(padded, {
        target: { port: echo.port },
        options: { 'pad-min': 3, 'log-level': 'warn' },
      });
      await pair.close();
      await expect(
        // @ts-expect-error -- a misspelled option name must not compile
        startPluginPair(padded, { target: { port: echo.port }, options: { 'pad-mim': 3 } }),
      ).rejects.toMatchObject({ code: 'SIP003_OPTION_UNKNOWN' });
      await expect(
        // @ts-expect-error -- the same for the conformance check
        checkCodecRoundTrip(padded, { serverOptions: { 'pad-mim': 3 } }),
      ).rejects.toMatchObject({ code: 'SIP003_OPTION_UNKNOWN' });
    } finally {
      await echo.close();
    }
  });
});
