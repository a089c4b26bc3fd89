/**
 * @packageDocumentation
 * obfs-http-plugin: a drop-in for simple-obfs (`obfs-local` and `obfs-server` in one executable),
 * byte-compatible with simple-obfs 0.0.5 in HTTP and TLS mode, built on `@sip003/sdk`.
 *
 * @example
 * ```sh
 * ss-server ... --plugin obfs-http-plugin --plugin-opts "server;obfs=http"
 * ss-local  ... --plugin obfs-http-plugin --plugin-opts "obfs=http;obfs-host=www.bing.com"
 * ```
 */
import { definePlugin, ErrorCode, OptionsError } from '@sip003/sdk';
import { obfsOptions, DEFAULT_OBFS_HOST } from './options.ts';
import { assertObfsSessionOptions, createObfsSession, type ObfsSessionOptions } from './session.ts';

export { createObfsSession, assertObfsSessionOptions, type ObfsSessionOptions } from './session.ts';
export { obfsOptions, DEFAULT_OBFS_HOST } from './options.ts';

/** The plugin: client by default, server with the `server` option. */
const obfsHttpPlugin = definePlugin({
  name: 'obfs-http-plugin',
  description: 'simple-obfs compatible HTTP/TLS obfuscation (client and server)',
  options: obfsOptions,
  // simple-obfs's timeout key; the SDK's idle timeout now counts both directions (spec §10 row 15).
  aliases: { t: 'idle-timeout' },
  // simple-obfs 0.0.5 accepts these; configs that carry them must keep starting (spec §10 row 14).
  tolerated: {
    mptcp: 'MPTCP is not available to Node plugins; ignored',
    v: 'simple-obfs verbose flag; ignored (use log-level=debug)',
    b: 'simple-obfs outbound bind address; not supported, ignored',
    i: 'simple-obfs interface binding (SO_BINDTODEVICE); not supported, ignored',
    a: 'simple-obfs run-as-user; not supported (run the host as that user), ignored',
    '6': 'simple-obfs IPv6-first resolution; ignored (Node tries both families)',
    c: 'simple-obfs JSON config file; not read (put the options in SS_PLUGIN_OPTIONS), ignored',
  },
  check(options, mode) {
    const warnings: string[] = [];
    if (mode === 'client' && options.failover !== undefined)
      warnings.push('option failover: only the server side uses it; ignored');
    if (options.reverse_proxy && (mode === 'client' || options.obfs === 'tls')) {
      warnings.push('option reverse_proxy: only an HTTP server uses it; ignored');
    }
    try {
      assertObfsSessionOptions(sessionOptions(options));
    } catch (error) {
      // The framing code refuses what it cannot put on the wire (e.g. a host that does not fit).
      const message = (error as Error).message;
      throw new OptionsError(
        ErrorCode.OPTION_INVALID,
        'obfs-host',
        'a value the wire format can carry',
        options['obfs-host'],
        message,
      );
    }
    return warnings;
  },
  session(ctx) {
    return createObfsSession(ctx, sessionOptions(ctx.options));
  },
});

function sessionOptions(options: {
  obfs: 'http' | 'tls';
  'obfs-host'?: string | undefined;
  'obfs-uri': string;
  'http-method': string;
  failover?: { host: string; port: number } | undefined;
  reverse_proxy: boolean;
}): ObfsSessionOptions {
  return {
    obfs: options.obfs,
    obfsHost: options['obfs-host'] ?? DEFAULT_OBFS_HOST,
    obfsUri: options['obfs-uri'],
    httpMethod: options['http-method'],
    serverObfsHost: options['obfs-host'],
    failover: options.failover,
    reverseProxy: options.reverse_proxy,
  };
}

export default obfsHttpPlugin;
