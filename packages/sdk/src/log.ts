export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
const RANK: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 };

export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

/** A leveled logger: one line per event on stderr, `<name> <level> <message> key=value...`. */
export interface Logger {
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  /** True when debug lines are printed: check it before building costly debug messages. */
  readonly debugEnabled: boolean;
  /** A logger whose lines all carry `fields` (e.g. `{ conn: 7 }`). */
  child(fields: LogFields): Logger;
}

/** Where log lines go. Must never throw. */
export type LogSink = (line: string) => void;

export interface LoggerOptions {
  name: string;
  level?: LogLevel;
  sink?: LogSink;
}

function formatValue(value: string | number | boolean): string {
  const text = String(value);
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}

function formatFields(fields: LogFields): string {
  let out = '';
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) out += ` ${key}=${formatValue(value)}`;
  }
  return out;
}

/** Bytes of log lines allowed to wait for a slow stderr reader before lines are dropped. */
const STDERR_QUEUE_LIMIT = 64 * 1024;

let stderrBroken = false;
let stderrGuarded = false;
let dropped = 0;

/**
 * Installed on the first line written, not at import: the package promises no import-time side
 * effects (`"sideEffects": false`). An async EPIPE arrives as an 'error' event on the stream;
 * without a listener it would crash us. When a reader catches up, say how many lines it missed.
 */
function guardStderr(): void {
  stderrGuarded = true;
  process.stderr.on('error', () => {
    stderrBroken = true;
  });
  process.stderr.on('drain', () => {
    if (dropped === 0 || stderrBroken) return;
    const count = dropped;
    dropped = 0;
    process.stderr.write(`dropped ${count} log line(s): stderr was not being read\n`);
  });
}

/**
 * Writes to fd 2, synchronously when it is a file or TTY (Node's default). A host that closed our
 * stderr (EPIPE/EBADF: a daemonized ss-libev did that) must not kill the plugin, so write errors
 * switch logging off instead of throwing (v2ray-plugin#29 died of exactly that). On a pipe nobody
 * reads, writes queue in memory: past 64 KiB, lines are dropped and counted instead.
 */
export const stderrSink: LogSink = (line) => {
  if (stderrBroken) return;
  if (!stderrGuarded) guardStderr();
  if (process.stderr.writableLength > STDERR_QUEUE_LIMIT) {
    dropped++;
    return;
  }
  try {
    process.stderr.write(`${line}\n`);
  } catch {
    stderrBroken = true;
  }
};

/**
 * A logger and its children. A child is made per connection, so it costs one small object: its
 * fields are formatted the first time a line is actually printed, never for a level that is off.
 */
class LineLogger implements Logger {
  readonly #name: string;
  readonly #max: number;
  readonly #sink: LogSink;
  readonly #parent: LineLogger | undefined;
  readonly #fields: LogFields | undefined;
  #prefix: string | undefined;

  constructor(name: string, max: number, sink: LogSink, parent?: LineLogger, fields?: LogFields) {
    this.#name = name;
    this.#max = max;
    this.#sink = sink;
    this.#parent = parent;
    this.#fields = fields;
  }

  get debugEnabled(): boolean {
    return this.#max >= RANK.debug;
  }

  #suffix(): string {
    if (this.#prefix === undefined) {
      const inherited = this.#parent === undefined ? '' : this.#parent.#suffix();
      this.#prefix = inherited + (this.#fields === undefined ? '' : formatFields(this.#fields));
    }
    return this.#prefix;
  }

  #emit(level: LogLevel, message: string, fields: LogFields | undefined): void {
    if (RANK[level] > this.#max) return;
    const extra = fields === undefined ? '' : formatFields(fields);
    this.#sink(`${this.#name} ${level} ${message}${this.#suffix()}${extra}`);
  }

  error(message: string, fields?: LogFields): void {
    this.#emit('error', message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.#emit('warn', message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.#emit('info', message, fields);
  }
  debug(message: string, fields?: LogFields): void {
    this.#emit('debug', message, fields);
  }
  child(fields: LogFields): Logger {
    return new LineLogger(this.#name, this.#max, this.#sink, this, fields);
  }
}

/** Creates a logger (default sink: stderr). */
export function createLogger({ name, level = 'info', sink = stderrSink }: LoggerOptions): Logger {
  return new LineLogger(name, RANK[level], sink);
}

/** Parses a level name; undefined if it is not one. */
export function parseLogLevel(text: string | undefined): LogLevel | undefined {
  return text !== undefined && text in RANK ? (text as LogLevel) : undefined;
}

/** The line that sums up `count` events of one kind seen over `seconds`. */
export type EventSummary = (count: number, seconds: number) => string;

interface Window {
  level: LogLevel;
  started: number;
  /** Events of the window so far, printed or not. */
  seen: number;
  /** Events counted and not printed, for the summary. */
  count: number;
  summary: EventSummary;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Events a remote peer can trigger at will (refused connections, handshake timeouts, protocol
 * errors, accepts at debug level) must not let it write our log. Per kind of event, the first
 * `burst` of a window are printed as they are; the others in that window are counted and summed
 * up in one line when it ends (`refused 450 connections in the last 10 s (max-connections=50)`),
 * and a flood that goes on gets one such line per window. Kinds are a small fixed set (error
 * codes, bug sites in the plugin's code), so this is bounded.
 */
export class PeerEventLog {
  readonly #log: Logger;
  readonly #windowMs: number;
  readonly #burst: number;
  readonly #windows = new Map<string, Window>();

  constructor(log: Logger, windowMs = 10_000, burst = 1) {
    this.#log = log;
    this.#windowMs = windowMs;
    this.#burst = burst;
  }

  /** One event of kind `key` at error level: `line` is printed within the burst, else counted. */
  error(key: string, line: string, summary: EventSummary, fields?: LogFields): void {
    this.#event('error', key, line, summary, fields);
  }

  /** The same at warn level. */
  warn(key: string, line: string, summary: EventSummary, fields?: LogFields): void {
    this.#event('warn', key, line, summary, fields);
  }

  /** The same at debug level (callers check `debugEnabled` first to skip building the line). */
  debug(key: string, line: string, summary: EventSummary, fields?: LogFields): void {
    this.#event('debug', key, line, summary, fields);
  }

  /** Prints what is still counted (at shutdown) and forgets every window. */
  flush(): void {
    for (const [key, window] of this.#windows) {
      clearTimeout(window.timer);
      this.#summarize(window);
      this.#windows.delete(key);
    }
  }

  #event(
    level: LogLevel,
    key: string,
    line: string,
    summary: EventSummary,
    fields: LogFields | undefined,
  ): void {
    const open = this.#windows.get(key);
    if (open !== undefined && open.seen >= this.#burst) {
      open.count++;
      open.summary = summary;
      return;
    }
    this.#log[level](line, fields);
    if (open !== undefined) {
      open.seen++;
      return;
    }
    this.#windows.set(key, {
      level,
      started: Date.now(),
      seen: 1,
      count: 0,
      summary,
      timer: setTimeout(() => this.#end(key), this.#windowMs).unref(),
    });
  }

  #end(key: string): void {
    const window = this.#windows.get(key);
    if (window === undefined) return;
    if (window.count === 0) {
      this.#windows.delete(key);
      return;
    }
    this.#summarize(window);
    // The flood goes on: the next window prints nothing but its summary.
    window.count = 0;
    window.started = Date.now();
    window.timer = setTimeout(() => this.#end(key), this.#windowMs).unref();
  }

  #summarize(window: Window): void {
    if (window.count === 0) return;
    const seconds = Math.max(1, Math.round((Date.now() - window.started) / 1000));
    this.#log[window.level](window.summary(window.count, seconds));
  }
}
