import { describe, it, expect } from 'vitest';
import { editDistance, suggest } from '../src/suggest.ts';

describe('editDistance', () => {
  it.each([
    ['', '', 0],
    ['abc', '', 3],
    ['key', 'key', 0],
    ['kye', 'key', 1],
    ['tga', 'tag', 1],
    ['pad-mxa', 'pad-max', 1],
    ['pad-mxa', 'pad-min', 2],
    ['ab', 'ba', 1],
    ['abc', 'ca', 3],
    ['kitten', 'sitting', 3],
  ])('%j → %j is %i', (a, b, want) => {
    expect(editDistance(a, b)).toBe(want);
    expect(editDistance(b, a)).toBe(want);
  });
});

describe('suggest', () => {
  it.each([
    ['obfs_host', 'obfs-host'],
    ['fastopen', 'fast-open'],
    ['obfshost', 'obfs-host'],
    ['qwerty', undefined],
  ])('%s → %s', (typed, want) => {
    expect(suggest(typed, ['obfs', 'obfs-host', 'fast-open', 'server'])).toBe(want);
  });

  it('counts a swap of two neighbours as one typo', () => {
    const known = ['pad-min', 'pad-max', 'key', 'tag', 'server', 'log-level'];
    expect(suggest('pad-mxa', known)).toBe('pad-max');
    expect(suggest('kye', known)).toBe('key');
    expect(suggest('tga', known)).toBe('tag');
  });

  it('offers nothing for a one-letter typo', () => {
    expect(suggest('v', ['t', 'idle-timeout'])).toBeUndefined();
    expect(suggest('T', ['t'])).toBe('t');
  });
});
