import { describe, it, expect } from 'vitest';
import { checkCodecRoundTrip, conformanceSteps } from '@sip003/sdk/testing';
import noopPlugin from '../src/index.ts';

describe('noop-plugin', () => {
  it('passes the SDK conformance check', async () => {
    const report = await checkCodecRoundTrip(noopPlugin, { largeBytes: 16 * 1024 * 1024 });
    expect(report.steps.map((s) => s.name)).toEqual(conformanceSteps);
  }, 120_000);
});
