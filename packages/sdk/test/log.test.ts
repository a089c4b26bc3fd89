import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, it, expect, vi } from 'vitest';
import { createLogger, PeerEventLog } from '../src/log.ts';
import { spawnBundledFixture } from './helpers.ts';

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

describe('PeerEventLog', () => {
  it('prints the first event of a window and sums the others up in one line when it ends', () => {
    vi.useFakeTimers();
    try {
      const lines: string[] = [];
      const log = createLogger({ name: 'p', sink: (l) => lines.push(l) });
      const peers = new PeerEventLog(log, 10_000);
      const summary = (n: number, s: number): string => `refused ${n} more in the last ${s} s`;
      for (let i = 0; i < 450; i++) peers.warn('refused', 'connection refused', summary);
      peers.warn('other', 'something else', (n) => `${n} others`);
      expect(lines).toEqual(['p warn connection refused', 'p warn something else']);
      vi.advanceTimersByTime(10_000);
      expect(lines.slice(2)).toEqual(['p warn refused 449 more in the last 10 s']);
      // A flood that goes on gets one line per window; a quiet window closes it.
      peers.warn('refused', 'connection refused', summary);
      vi.advanceTimersByTime(10_000);
      expect(lines.slice(3)).toEqual(['p warn refused 1 more in the last 10 s']);
      vi.advanceTimersByTime(10_000);
      peers.warn('refused', 'connection refused', summary);
      expect(lines.slice(4)).toEqual(['p warn connection refused']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('flush prints what is still counted', () => {
    const lines: string[] = [];
    const peers = new PeerEventLog(createLogger({ name: 'p', sink: (l) => lines.push(l) }));
    for (let i = 0; i < 3; i++) peers.warn('k', 'first', (n) => `${n} more`);
    peers.flush();
    expect(lines).toEqual(['p warn first', 'p warn 2 more']);
  });
});

describe('stderrSink', () => {
  it('keeps at most 64 KiB of lines for a stderr nobody reads, and says how many it dropped', async () => {
    // Bundled, not through tsx: see spawnBundledFixture (tsx could leave this stderr blocking).
    const child = await spawnBundledFixture('log-flood.ts');
    const exited = once(child, 'exit');
    child.stderr.pause();
    const line = once(createInterface({ input: child.stdout }), 'line');
    // A child that dies before its line would otherwise leave this test waiting for it.
    const died = exited.then(([code]) => {
      throw new Error(`log-flood exited with ${String(code)} before printing its queue size`);
    });
    const [queued] = (await Promise.race([line, died])) as [string];
    expect(Number(queued)).toBeLessThanOrEqual(64 * 1024 + 200);
    let text = '';
    child.stderr.setEncoding('utf8').on('data', (t: string) => (text += t));
    // 'close' comes once stderr is read to its end; 'exit' may come before the last lines.
    const closed = once(child, 'close');
    child.stderr.resume();
    expect((await closed)[0]).toBe(0);
    const dropped = /dropped (\d+) log line\(s\): stderr was not being read/.exec(text);
    expect(dropped, text.slice(-300)).not.toBeNull();
    const printed = text.split('\n').filter((l) => l.startsWith('flood info line')).length;
    expect(printed + Number(dropped![1])).toBe(20_000);
  });
});
