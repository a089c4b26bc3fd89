import { debuglog } from 'node:util';

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

let stderrBroken = false;

/**
 * Writes to fd 2, synchronously when it is a file or TTY (Node's default). A host that closed our
 * stderr (EPIPE/EBADF: a daemonized ss-libev did that) must not kill the plugin, so write errors
 * switch logging off instead of throwing (v2ray-plugin#29 died of exactly that).
 */
export const stderrSink: LogSink = (line) => {
  if (stderrBroken) return;
  try {
    process.stderr.write(`${line}\n`);
  } catch {
    stderrBroken = true;
  }
};
// An async EPIPE arrives as an 'error' event on the stream; without a listener it would crash us.
process.stderr.on('error', () => {
  stderrBroken = true;
});

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

/** Creates a logger. Hot-path tracing can also go through NODE_DEBUG=sip003 (util.debuglog). */
export function createLogger({ name, level = 'info', sink = stderrSink }: LoggerOptions): Logger {
  return new LineLogger(name, RANK[level], sink);
}

/** A logger that drops everything. */
export const silentLogger: Logger = createLogger({
  name: '',
  level: 'error',
  sink: () => undefined,
});

/** `NODE_DEBUG=sip003` tracing for per-chunk events; free when off. */
export const trace = debuglog('sip003');

/** Parses a level name; undefined if it is not one. */
export function parseLogLevel(text: string | undefined): LogLevel | undefined {
  return text !== undefined && text in RANK ? (text as LogLevel) : undefined;
}
