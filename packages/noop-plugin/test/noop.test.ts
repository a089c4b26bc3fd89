import { describe, it, expect } from 'vitest';
import { checkCodecRoundTrip } from '@sip003/sdk/testing';
import noopPlugin from '../src/index.ts';

describe('noop-plugin', () => {
  it('passes the SDK conformance check', async () => {
    const report = await checkCodecRoundTrip(noopPlugin, { largeBytes: 16 * 1024 * 1024 });
    expect(report.steps.map((s) => s.name)).toEqual([
      'small echo',
      'random chunking',
      '1-byte chunks',
      'large transfer',
      'empty connection',
      'concurrent connections',
      'garbage to the server side',
      'half-close: client FIN, reply after it',
      'half-close: upstream FIN first, upload continues',
    ]);
  }, 120_000);
});
