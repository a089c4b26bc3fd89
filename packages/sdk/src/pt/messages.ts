import { parseEndpoint, type Endpoint } from '../address.ts';

/**
 * One line a managed proxy writes on stdout (pt-spec 3.3: `<Keyword> <Args>`, NL-terminated).
 * Unknown keywords are kept as `other`: the parent "MUST ignore" them, but they are worth quoting
 * when the proxy dies.
 */
export type PtMessage =
  | { kind: 'VERSION'; version: string }
  | { kind: 'VERSION-ERROR'; message: string }
  | { kind: 'ENV-ERROR'; message: string }
  | { kind: 'PROXY-ERROR'; message: string }
  | { kind: 'PROXY'; done: true }
  | { kind: 'CMETHOD'; transport: string; protocol: string; address: Endpoint }
  | { kind: 'CMETHOD-ERROR'; transport: string; message: string }
  | { kind: 'CMETHODS'; done: true }
  | { kind: 'SMETHOD'; transport: string; address: Endpoint; args: Record<string, string> }
  | { kind: 'SMETHOD-ERROR'; transport: string; message: string }
  | { kind: 'SMETHODS'; done: true }
  | { kind: 'LOG'; severity: string; message: string }
  | { kind: 'STATUS'; transport: string | undefined; fields: Record<string, string> }
  | { kind: 'other'; line: string }
  /** A known keyword with arguments that do not parse: a broken proxy, reported as such. */
  | { kind: 'malformed'; line: string; reason: string };

/** Splits `KEYWORD rest` at the first space. */
function split(line: string): [string, string] {
  const space = line.indexOf(' ');
  return space < 0 ? [line, ''] : [line.slice(0, space), line.slice(space + 1)];
}

/** Parses one stdout line (without its NL). */
export function parsePtLine(raw: string): PtMessage {
  const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  const [keyword, rest] = split(line);
  const bad = (reason: string): PtMessage => ({ kind: 'malformed', line, reason });
  switch (keyword) {
    case 'VERSION':
      return rest === '' ? bad('no version') : { kind: 'VERSION', version: rest };
    case 'VERSION-ERROR':
    case 'ENV-ERROR':
    case 'PROXY-ERROR':
      return { kind: keyword, message: rest };
    case 'PROXY':
      return rest === 'DONE' ? { kind: 'PROXY', done: true } : { kind: 'other', line };
    case 'CMETHODS':
    case 'SMETHODS':
      return rest === 'DONE' ? { kind: keyword, done: true } : bad('expected DONE');
    case 'CMETHOD': {
      const [transport = '', protocol = '', addr = ''] = rest.split(' ');
      const address = parseEndpoint(addr);
      if (transport === '' || protocol === '' || address === undefined)
        return bad('expected CMETHOD <transport> <socks4|socks5> <address:port>');
      return { kind: 'CMETHOD', transport, protocol, address };
    }
    case 'SMETHOD': {
      const [transport = '', addr = '', ...options] = rest.split(' ');
      const address = parseEndpoint(addr);
      if (transport === '' || address === undefined)
        return bad('expected SMETHOD <transport> <address:port> [ARGS:k=v,...]');
      const argsOption = options.find((o) => o.startsWith('ARGS:'));
      const args = argsOption === undefined ? {} : parseSmethodArgs(argsOption.slice(5));
      if (args === undefined) return bad('ARGS: expected k=v pairs separated by ","');
      return { kind: 'SMETHOD', transport, address, args };
    }
    case 'CMETHOD-ERROR':
    case 'SMETHOD-ERROR': {
      const [transport, message] = split(rest);
      return { kind: keyword, transport, message };
    }
    case 'LOG': {
      const fields = parseKeyValueLine(rest);
      if (fields === undefined) return bad('expected LOG SEVERITY=... MESSAGE=...');
      return {
        kind: 'LOG',
        severity: fields['SEVERITY'] ?? 'notice',
        message: fields['MESSAGE'] ?? '',
      };
    }
    case 'STATUS': {
      const fields = parseKeyValueLine(rest);
      if (fields === undefined) return bad('expected STATUS TRANSPORT=... k=v ...');
      return { kind: 'STATUS', transport: fields['TRANSPORT'], fields };
    }
    default:
      return { kind: 'other', line };
  }
}

/**
 * SMETHOD's `ARGS:k=v,k2=v2` (pt-spec 3.3.3: "Equal signs and commas MUST be escaped with a
 * backslash"); a backslash escapes any character. Undefined when an item has no `=`.
 */
export function parseSmethodArgs(text: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  if (text === '') return out;
  let key: string | undefined;
  let current = '';
  const finish = (): boolean => {
    if (key === undefined) return false;
    out[key] = current;
    key = undefined;
    current = '';
    return true;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length) {
      current += text.charAt(++i);
    } else if (c === '=' && key === undefined) {
      key = current;
      current = '';
    } else if (c === ',') {
      if (!finish()) return undefined;
    } else {
      current += c;
    }
  }
  return finish() ? out : undefined;
}

const C_ESCAPES: Readonly<Record<string, string>> = {
  n: '\n',
  t: '\t',
  r: '\r',
  '\\': '\\',
  '"': '"',
  "'": "'",
};

/**
 * The `k=v` lines of LOG and STATUS (goptlib's kvline): values are bare words or C-style quoted
 * strings (`MESSAGE="a \"b\"\n"`). Undefined when a quote never closes or an item has no `=`.
 */
export function parseKeyValueLine(text: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    if (text[i] === ' ') {
      i++;
      continue;
    }
    const eq = text.indexOf('=', i);
    const space = text.indexOf(' ', i);
    if (eq < 0 || (space >= 0 && space < eq)) return undefined;
    const key = text.slice(i, eq);
    i = eq + 1;
    if (text[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) return undefined;
        const c = text[i]!;
        if (c === '"') {
          i++;
          break;
        }
        if (c === '\\' && i + 1 < text.length) {
          const next = text[i + 1]!;
          const octal = /^[0-7]{3}/.exec(text.slice(i + 1, i + 4));
          if (octal !== null) {
            value += String.fromCharCode(parseInt(octal[0], 8));
            i += 4;
          } else {
            value += C_ESCAPES[next] ?? next;
            i += 2;
          }
          continue;
        }
        value += c;
        i++;
      }
      out[key] = value;
    } else {
      const end = text.indexOf(' ', i);
      out[key] = text.slice(i, end < 0 ? text.length : end);
      i = end < 0 ? text.length : end;
    }
  }
  return out;
}

/**
 * TOR_PT_SERVER_TRANSPORT_OPTIONS (pt-spec 3.2.3): `transport:k=v;transport:k2=v2`, with colons,
 * semicolons, equal signs and backslashes escaped.
 */
export function formatServerTransportOptions(
  transport: string,
  options: Readonly<Record<string, string>>,
): string {
  const esc = (s: string): string => s.replace(/[\\:;=]/g, (c) => `\\${c}`);
  return Object.entries(options)
    .map(([k, v]) => `${esc(transport)}:${esc(k)}=${esc(v)}`)
    .join(';');
}
