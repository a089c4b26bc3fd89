import { option } from '@sip003/sdk';

/**
 * The options, with simple-obfs's names (wire spec §7, plus `obfs-uri` and `http-method` from
 * upstream master). Everything simple-obfs 0.0.5 accepted still parses, except spellings its
 * parser mangled, which are now one-line errors (spec §10 row 14).
 */
export const obfsOptions = {
  obfs: option.enum(['http', 'tls'], {
    default: 'http',
    description: 'obfuscation: http (WebSocket upgrade) or tls (fake TLS 1.2 resumption)',
  }),
  'obfs-host': option.string({
    nonEmpty: true,
    max: 255,
    pattern: /^[^\s\p{Cc}]+$/u,
    expected: 'a host name of 1 to 255 characters without spaces or control characters',
    description:
      'client: Host header / SNI (default: cloudfront.net); server: when set, the Host an HTTP client must send',
  }),
  'obfs-uri': option.string({
    default: '/',
    pattern: /^\/[\x21-\x7e]*$/,
    expected: 'a path starting with "/" without spaces or control characters',
    description: 'client, http: request path',
  }),
  'http-method': option.string({
    default: 'GET',
    pattern: /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/,
    expected: 'an HTTP method token such as GET or POST',
    description: 'client, http: request method (a simple-obfs 0.0.5 server accepts only GET)',
  }),
  failover: option.endpoint({
    description: 'server: where connections that are not obfuscated go',
  }),
  reverse_proxy: option.flag({
    description: 'server, http: answer 101 as soon as the request is accepted',
  }),
} as const;

/** The client's Host / SNI when none is given (simple-obfs's default). */
export const DEFAULT_OBFS_HOST = 'cloudfront.net';
