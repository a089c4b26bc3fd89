import { describe, it, expect } from 'vitest';
import { checkCodecRoundTrip, conformanceSteps } from '@sip003/sdk/testing';
import plugin from '../src/index.ts';

describe('obfs-http-plugin: the SDK conformance check', () => {
  for (const obfs of ['http', 'tls'] as const) {
    it(`passes every step with obfs=${obfs}`, async () => {
      const report = await checkCodecRoundTrip(plugin, {
        options: { obfs, 'obfs-host': 'www.example.com' },
        largeBytes: 4 * 1024 * 1024,
      });
      expect(report.steps.map((s) => s.name)).toEqual(conformanceSteps);
    }, 120_000);
  }
});
