import { isIP } from 'node:net';

/** A host and port. Hosts are kept as given: IP literals without brackets, or unresolved names. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** Strips one pair of brackets from an IPv6 literal (`[::1]` → `::1`); other hosts unchanged. */
export function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** `host:port` for logs and messages, bracketing IPv6 literals (`[::1]:8388`). */
export function formatEndpoint(endpoint: Endpoint): string {
  return isIP(endpoint.host) === 6
    ? `[${endpoint.host}]:${endpoint.port}`
    : `${endpoint.host}:${endpoint.port}`;
}

/** True for the any-address of either family, which can only be listened on. */
export function isUnspecified(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '0:0:0:0:0:0:0:0';
}

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;

/** True for an IPv4/IPv6 literal (brackets allowed around IPv6) or a DNS host name. */
export function isValidHost(host: string): boolean {
  const bare = unbracket(host);
  if (bare !== host) return isIP(bare) === 6; // brackets only ever surround IPv6
  return isIP(host) !== 0 || HOSTNAME.test(host);
}

/** Parses a decimal port 1..65535; undefined when the text is anything else. */
export function parsePort(text: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/**
 * Parses `host:port`, `[v6]:port` or a bare `v6` literal followed by `:port` is ambiguous and
 * refused. Returns undefined when the text is not an endpoint.
 */
export function parseEndpoint(text: string): Endpoint | undefined {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return undefined;
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (isIP(host) !== 6) return undefined;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon <= 0) return undefined;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return undefined; // IPv6 needs brackets here
    if (!isValidHost(host)) return undefined;
  }
  const port = parsePort(portText);
  return port === undefined ? undefined : { host, port };
}
