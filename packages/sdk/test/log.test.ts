import { describe, it, expect } from 'vitest';
import { createLogger } from '../src/log.ts';

describe('createLogger', () => {
  it('prints one line per event with the level, the fields of its ancestors and its own', () => {
    const lines: string[] = [];
    const log = createLogger({ name: 'p', level: 'debug', sink: (l) => lines.push(l) });
    const conn = log.child({ conn: 7 });
    conn.child({ dir: 'in' }).warn('slow', { ms: 12, note: 'two words' });
    log.info('listening', { skipped: undefined });
    expect(lines).toEqual(['p warn slow conn=7 dir=in ms=12 note="two words"', 'p info listening']);
  });

  it('drops levels below its own and formats nothing for them', () => {
    const lines: string[] = [];
    const log = createLogger({ name: 'p', level: 'info', sink: (l) => lines.push(l) });
    let reads = 0;
    const fields = {
      get conn() {
        reads++;
        return 1;
      },
    };
    const child = log.child(fields);
    child.debug('per-connection detail');
    expect(child.debugEnabled).toBe(false);
    expect(reads).toBe(0);
    expect(lines).toEqual([]);
    child.error('broken');
    expect(lines).toEqual(['p error broken conn=1']);
  });
});
