import { readFileSync } from 'node:fs';
import { isPluginError } from '../errors.ts';
import { runCommand, RUN_USAGE } from './run.ts';
import { bundleCommand } from './bundle.ts';
import { initCommand } from './init.ts';
import { devCommand } from './dev.ts';
import { doctorCommand } from './doctor.ts';

const USAGE = `Usage: sip003 <command> [arguments]

Commands:
  run <plugin> [...]          run a client/server plugin pair as ss-libev would and move bytes through it
  bundle <entry.ts> -o <file> bundle a plugin into one file (--standalone: one executable, no Node needed)
  init <dir>                  create a plugin project (package.json, tsconfig, src, a test)
  dev <entry> [...]           run a plugin pair and restart it when a source file changes
  doctor                      check Node, node on PATH, shadowsocks hosts, SS_* and ports
  help [command]              this text, or a command's options (as "sip003 <command> --help")

Run "sip003 <command> --help" for a command's options, "sip003 --version" for the SDK's version.
`;

/** The commands, as the usage text lists them: one list for the text and the messages. */
const COMMANDS = [...USAGE.matchAll(/^ {2}([a-z]+) /gm)].map((match) => match[1]!);

/** `sip003 0.1.0`: the version of the SDK this command belongs to. */
function versionLine(): string {
  // src/cli/main.ts and dist/cli/main.js both sit two folders below the package.json.
  const file = new URL('../../package.json', import.meta.url);
  const { version } = JSON.parse(readFileSync(file, 'utf8')) as { version: string };
  return `sip003 ${version}`;
}

export interface CliIO {
  stdout(line: string): void;
  stderr(line: string): void;
}

const defaultIO: CliIO = {
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
};

/**
 * The `sip003` command. Returns the exit code: 0 success, 1 the job failed (e.g. bytes did not
 * arrive intact), 64 bad usage, 70 internal error.
 */
export async function main(argv: readonly string[], io: CliIO = defaultIO): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run':
        return await runCommand(rest, io);
      case 'bundle':
        return await bundleCommand(rest, io);
      case 'init':
        return await initCommand(rest, io);
      case 'dev':
        return await devCommand(rest, io);
      case 'doctor':
        return await doctorCommand(rest, io);
      case 'help':
        // `sip003 help run` is `sip003 run --help`, for every command.
        if (rest[0] !== undefined) return await main([rest[0], '--help'], io);
        io.stdout(USAGE);
        return 0;
      case undefined:
      case '--help':
      case '-h':
        io.stdout(USAGE);
        return command === undefined ? 64 : 0;
      case '--version':
      case '-v':
        io.stdout(versionLine());
        return 0;
      default:
        io.stderr(
          `sip003: unknown command ${JSON.stringify(command)}; expected one of ${COMMANDS.join(', ')} (or --version)`,
        );
        return 64;
    }
  } catch (error) {
    if (isPluginError(error)) {
      io.stderr(error.message);
      return error.code === 'SIP003_USAGE' ? 64 : 1;
    }
    io.stderr(`sip003: internal error: ${(error as Error).stack ?? String(error)}`);
    return 70;
  }
}

export { RUN_USAGE };
