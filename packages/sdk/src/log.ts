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

/** Creates a logger. Hot-path tracing can also go through NODE_DEBUG=sip003 (util.debuglog). */
export function createLogger({ name, level = 'info', sink = stderrSink }: LoggerOptions): Logger {
  const max = RANK[level];
  const make = (prefix: string): Logger => {
    const emit = (lvl: LogLevel, message: string, fields?: LogFields): void => {
      if (RANK[lvl] > max) return;
      sink(`${name} ${lvl} ${message}${prefix}${fields === undefined ? '' : formatFields(fields)}`);
    };
    return {
      error: (m, f) => emit('error', m, f),
      warn: (m, f) => emit('warn', m, f),
      info: (m, f) => emit('info', m, f),
      debug: (m, f) => emit('debug', m, f),
      debugEnabled: max >= RANK.debug,
      child: (fields) => make(prefix + formatFields(fields)),
    };
  };
  return make('');
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
