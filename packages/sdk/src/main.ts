import cluster from 'node:cluster';
import {
  logLevelOf,
  markStarted,
  resolveConfig,
  startPlugin,
  type Plugin,
  type ResolvedConfig,
} from './plugin.ts';
import type { OptionShape } from './schema.ts';
import { describeOptions, HOST_ADDED_OPTIONS, redactValues } from './shape.ts';
import { ErrorCode, isPluginError } from './errors.ts';
import { ExitCode, startLifecycle } from './lifecycle.ts';
import { createLogger, stderrSink } from './log.ts';
import { followPrimary, primaryGate, runPrimary } from './cluster.ts';
import { isSea } from 'node:sea';

/** Legacy argv some hosts add: Android's `-V` (VPN mode), `--fast-open`. Accepted, ignored. */
const TOLERATED_ARGS: Readonly<Record<string, string>> = {
  '-V': 'Android VPN mode needs socket protection, which a Node plugin cannot do; ignored',
  '--fast-open': 'TCP Fast Open is not available to Node plugins; ignored',
};

/** The `--help` text: generated from the plugin's option declarations. */
export function helpText(plugin: Plugin): string {
  return [
    `${plugin.name} ${plugin.version}${plugin.description === undefined ? '' : ` - ${plugin.description}`}`,
    '',
    'A shadowsocks SIP003 plugin. A host (ss-local/ss-server --plugin, sslocal/ssserver) runs it',
    'with SS_REMOTE_HOST, SS_REMOTE_PORT, SS_LOCAL_HOST, SS_LOCAL_PORT and SS_PLUGIN_OPTIONS set.',
    'Client side: listens on SS_LOCAL, dials SS_REMOTE. Server side (option "server"): listens on',
    'SS_REMOTE, dials SS_LOCAL.',
    '',
    'Options (SS_PLUGIN_OPTIONS="key=value;flag;..."; escape ; = \\ with \\):',
    ...describeOptions(plugin.options ?? {}),
    ...Object.entries(plugin.aliases ?? {}).map(
      ([alias, key]) => `  ${alias}: another name of ${key}`,
    ),
    `  accepted and ignored, with a warning: ${Object.keys({ ...HOST_ADDED_OPTIONS, ...plugin.tolerated }).join(', ')}`,
    '',
    'Environment: SIP003_LOG_LEVEL=error|warn|info|debug (the log-level option wins).',
    'Arguments: --help, --version, --check (validate the configuration and exit).',
    'Exit codes: 0 stopped cleanly, 1 runtime failure, 2 bad configuration, 3 cannot listen,',
    '  70 internal error, 130/143 forced by a second SIGINT/SIGTERM.',
  ].join('\n');
}

function exitCodeOf(error: unknown): ExitCode {
  if (!isPluginError(error)) return ExitCode.INTERNAL;
  return error.code === ErrorCode.LISTEN_FAILED ? ExitCode.LISTEN : ExitCode.CONFIG;
}

/**
 * The whole life of a plugin executable: argv, configuration, listening, signals, parent death,
 * exit code. Call it from the plugin's bin entry (`runMain(plugin)`). This is the one place in the
 * SDK that ends the process, always through the lifecycle's one `shutdown(reason)`.
 */
export async function runMain<S extends OptionShape>(
  plugin: Plugin<S>,
  argv: readonly string[] = process.argv.slice(2),
): Promise<void> {
  markStarted(); // a bundle's generated entry then knows this entry started its plugin
  const write = (line: string): void => stderrSink(line);
  // One line for a PluginError (bad configuration, cannot listen); the stack for a bug.
  const failStart: (error: unknown) => never = (error) => {
    write(
      isPluginError(error)
        ? `${plugin.name}: ${error.message}`
        : `${plugin.name}: ${(error as Error).stack ?? String(error)}`,
    );
    process.exit(exitCodeOf(error));
  };
  const argWarnings: string[] = [];
  let checkOnly = false;
  for (const arg of argv) {
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${helpText(plugin as unknown as Plugin)}\n`);
      return;
    }
    if (arg === '--version' || arg === '-v') {
      // A standalone executable names the node it embeds: what an admin checks for updates.
      const embedded = isSea()
        ? ` (node ${process.version}, ${process.platform}-${process.arch})`
        : '';
      process.stdout.write(`${plugin.name} ${plugin.version}${embedded}\n`);
      return;
    }
    if (arg === '--check') {
      checkOnly = true;
      continue;
    }
    const reason = TOLERATED_ARGS[arg];
    if (reason !== undefined) {
      argWarnings.push(`argument ${arg}: ${reason}`);
      continue;
    }
    write(
      `${plugin.name}: unknown argument ${JSON.stringify(arg)}; expected --help, --version or --check (configuration comes from SS_* environment variables)`,
    );
    process.exitCode = ExitCode.CONFIG;
    return;
  }

  // The configuration is resolved once, here, and handed to whatever runs.
  let config: ResolvedConfig<S>;
  try {
    config = resolveConfig(plugin, process.env);
  } catch (error) {
    if (!checkOnly) failStart(error);
    write(`${plugin.name}: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = exitCodeOf(error);
    return;
  }
  const warnings = [...argWarnings, ...config.warnings];
  if (checkOnly) {
    for (const w of warnings) write(`${plugin.name} warn ${w}`);
    process.stdout.write(
      `${plugin.name}: configuration OK (${config.mode}) ${JSON.stringify(redactValues(plugin.options ?? {}, config.options))}\n`,
    );
    return;
  }

  const log = createLogger({ name: plugin.name, level: logLevelOf(config.options, process.env) });
  // Cluster workers share the primary's configuration: the primary has said its warnings.
  if (!cluster.isWorker) for (const w of warnings) log.warn(w);
  const lifecycle = startLifecycle({
    log,
    drainMs: config.options['drain-timeout'] * 1000,
    exit: (code) => process.exit(code),
  });
  const fatal = (label: string) => (error: unknown) => {
    write(
      `${plugin.name}: ${label}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    lifecycle.shutdown('fatal-error', ExitCode.INTERNAL);
  };
  process.on('uncaughtException', fatal('internal error (uncaught exception)'));
  process.on('unhandledRejection', fatal('internal error (unhandled rejection)'));

  if (cluster.isPrimary && config.mode === 'server' && config.options.workers > 1) {
    runPrimary({
      workers: config.options.workers,
      argv,
      maxConnections: config.options['max-connections'],
      log,
      lifecycle,
    });
    return;
  }
  if (cluster.isWorker) followPrimary(lifecycle);
  try {
    const handle = await startPlugin(plugin, config, {
      log,
      ...(cluster.isWorker ? { gate: primaryGate() } : {}),
    });
    lifecycle.attach({ stop: (drainMs) => handle.close(drainMs), abort: () => undefined });
  } catch (error) {
    failStart(error);
  }
}
