import { once } from 'node:events';
import { describe, it, expect } from 'vitest';
import * as root from '../src/index.ts';
import * as advanced from '../src/advanced.ts';
import * as testing from '../src/testing/index.ts';
import { spawnFixture } from './helpers.ts';

describe('the entries of @sip003/sdk', () => {
  it('import with no side effect (package.json says "sideEffects": false)', async () => {
    const child = spawnFixture('import-only.ts');
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (out += t));
    expect((await once(child, 'exit'))[0]).toBe(0);
    const { before, after } = JSON.parse(out) as Record<string, unknown>;
    expect(after).toEqual(before);
  });

  it('the root exports what a plugin author uses, and no two entries share a function name', () => {
    expect(Object.keys(root).sort()).toEqual([
      'ErrorCode',
      'ExitCode',
      'OptionsError',
      'PluginError',
      'ProtocolError',
      'definePlugin',
      'formatOptions',
      'isPluginError',
      'option',
      'parseOptions',
      'readEnv',
      'runMain',
      'runPlugin',
    ]);
    const names = [root, advanced, testing].flatMap((entry) => Object.keys(entry));
    expect(names.filter((name, i) => names.indexOf(name) !== i)).toEqual([]);
  });
});
