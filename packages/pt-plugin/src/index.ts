/**
 * @packageDocumentation
 * pt-plugin: Tor pluggable transports (obfs4proxy's obfs4, obfs3, obfs2, scramblesuit, meek_lite)
 * as a SIP003 plugin. The transport runs in obfs4proxy, our child; this package only declares the
 * options and says what goes where. The machinery is `@sip003/sdk/pt`.
 */
import { accessSync, constants, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { OptionsError, definePlugin, formatOptions, option, type PluginOptions } from '@sip003/sdk';
import { resolveExecutable, type ManagedTransportSpec } from '@sip003/sdk/pt';

/** The transports obfs4proxy 0.0.14 ships. */
export const TRANSPORTS = ['obfs4', 'obfs3', 'obfs2', 'scramblesuit', 'meek_lite'] as const;
export type Transport = (typeof TRANSPORTS)[number];

/** Per transport: the client's per-connection arguments, and which of them are required. */
const CLIENT_ARGS: Readonly<
  Record<Transport, { args: readonly string[]; required: readonly string[] }>
> = {
  obfs4: { args: ['cert', 'iat-mode'], required: ['cert'] },
  obfs3: { args: [], required: [] },
  obfs2: { args: [], required: [] },
  scramblesuit: { args: ['password'], required: ['password'] },
  meek_lite: { args: ['url', 'front'], required: ['url'] },
};
const TRANSPORT_ARGS = ['cert', 'iat-mode', 'password', 'url', 'front'] as const;

/** The file, in the server's state directory, holding the `--plugin-opts` a client needs. */
export const CLIENT_OPTIONS_FILE = 'client-options.txt';

/** The options, as users type them in --plugin-opts. */
const options = {
  transport: option.enum(TRANSPORTS, {
    default: 'obfs4',
    description: 'the pluggable transport',
  }),
  exec: option.string({
    nonEmpty: true,
    default: 'obfs4proxy',
    description: 'the PT executable (a path, or a name on PATH)',
  }),
  state: option.string({
    nonEmpty: true,
    description: 'directory for the PT state; the server keeps its keys (the cert) there',
  }),
  cert: option.string({
    pattern: /^[A-Za-z0-9+/]{70}$/,
    expected: "an obfs4 cert (70 base64 characters, from the server's client-options.txt)",
    secret: true,
    description: 'obfs4 client: the server certificate',
  }),
  'iat-mode': option.int({
    min: 0,
    max: 2,
    default: 0,
    description: 'obfs4: inter-arrival time obfuscation, 0 (off), 1 or 2',
  }),
  password: option.string({
    nonEmpty: true,
    secret: true,
    description: 'scramblesuit client: the shared secret',
  }),
  url: option.string({ nonEmpty: true, description: 'meek_lite client: the meek server URL' }),
  front: option.string({ nonEmpty: true, description: 'meek_lite client: the front domain' }),
  'startup-timeout': option.seconds({
    min: 0.1,
    max: 600,
    default: 10,
    description: 'seconds the PT may take to report its transport ready',
  }),
};
type Options = PluginOptions<typeof options>;

const ptPlugin = definePlugin({
  name: 'pt-plugin',
  description: 'Tor pluggable transports (obfs4 and friends, run by obfs4proxy) for shadowsocks',
  options,
  check(values, mode) {
    resolveExecutable(values.exec);
    if (values.state !== undefined) checkStateDir(values.state);
    if (mode === 'server') {
      if (values.state === undefined)
        throw OptionsError.invalid(
          'state',
          'the server needs a state directory (state=/var/lib/pt-plugin), where the transport keeps its keys across restarts',
        );
      return undefined;
    }
    const { args, required } = CLIENT_ARGS[values.transport];
    for (const key of required) {
      if (values[key as keyof Options] === undefined)
        throw OptionsError.invalid(
          key,
          `transport ${values.transport} needs ${key}=... (from the server's ${CLIENT_OPTIONS_FILE})`,
        );
    }
    return TRANSPORT_ARGS.filter(
      (key) => key !== 'iat-mode' && !args.includes(key) && values[key] !== undefined,
    ).map((key) => `option ${key}: not used by transport ${values.transport}; ignored`);
  },
});

export default ptPlugin;

/**
 * `state` must be a writable directory, or not exist yet under a writable one (obfs4proxy creates
 * it). Checked here so a typo is a one-line configuration error, not a PT that dies at start.
 */
function checkStateDir(state: string): void {
  const fail = (why: string): never => {
    throw OptionsError.invalid('state', `${JSON.stringify(state)} ${why}`);
  };
  let path = resolve(state);
  for (let i = 0; i < 64; i++) {
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      const parent = dirname(path);
      if (parent === path) break;
      path = parent;
      continue;
    }
    if (!isDir) return fail(`is not a directory (${path} is a file)`);
    try {
      accessSync(path, constants.W_OK | constants.X_OK);
    } catch {
      return fail(`cannot be written (${path})`);
    }
    return;
  }
  fail('has no existing parent directory');
}

/** What runs: obfs4proxy with the options' transport, arguments and state directory. */
export const transportSpec: ManagedTransportSpec<Options> = {
  configure(options, mode) {
    const clientArgs: Record<string, string> = {};
    for (const key of CLIENT_ARGS[options.transport].args) {
      const value = options[key as (typeof TRANSPORT_ARGS)[number]];
      if (value !== undefined) clientArgs[key] = String(value);
    }
    return {
      exec: resolveExecutable(options.exec),
      transport: options.transport,
      ...(options.state === undefined ? {} : { stateDir: options.state }),
      ...(mode === 'client' ? { clientArgs } : {}),
      ...(mode === 'server' && options.transport === 'obfs4'
        ? { serverOptions: { 'iat-mode': String(options['iat-mode']) } }
        : {}),
      startupTimeoutMs: options['startup-timeout'] * 1000,
    };
  },
  onServerReady(proxy, _options, log) {
    const line = clientOptions(proxy.transport, proxy.args);
    const file = join(proxy.stateDir, CLIENT_OPTIONS_FILE);
    writeFileSync(file, `${line}\n`, { mode: 0o600 });
    log.info(`client options (also in ${file}): ${line}`);
  },
};

/** The `--plugin-opts` a client needs: the transport and the server's SMETHOD arguments. */
export function clientOptions(transport: string, args: Readonly<Record<string, string>>): string {
  return formatOptions({ transport, ...args });
}
