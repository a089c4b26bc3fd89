import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { parseCommandLine } from './args.ts';
import { usageError } from './failures.ts';
import { projectFiles } from './init-templates.ts';

export const INIT_USAGE = `Usage: sip003 init <dir> [options]

Creates a plugin project in <dir> (a new or empty folder): package.json with test, typecheck,
build and bundle scripts, tsconfig.json, src/index.ts (the plugin), src/main.ts (the executable)
and test/plugin.test.ts (a pair test and the SDK conformance check). Then:
cd <dir> && npm install && npm test

  --name <name>   package, plugin and executable name (default: the folder's name)
  --sdk <spec>    the @sip003/sdk dependency (default: ^ this SDK's version), e.g.
                  file:/path/to/sip003-sdk-0.1.0.tgz
  --help          this text
`;

/** npm's rule for new package names, unscoped: lowercase, URL-safe, not starting with . or _. */
const NPM_NAME = /^[a-z0-9][a-z0-9._~-]*$/;

async function sdkVersion(): Promise<string> {
  // src/cli/init.ts and dist/cli/init.js both sit two levels under the package root.
  const text = await readFile(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

async function isEmptyOrMissing(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw error;
  }
}

/** `sip003 init <dir>`: writes a new plugin project. Exit 0, or 64 for bad usage. */
export async function initCommand(
  argv: readonly string[],
  io: { stdout(line: string): void },
): Promise<number> {
  const args = parseCommandLine(
    argv,
    { name: { type: 'string' }, sdk: { type: 'string' }, help: { type: 'boolean' } },
    'init',
  );
  if (args.values['help'] === true) {
    io.stdout(INIT_USAGE);
    return 0;
  }
  const [target, ...extra] = args.positionals;
  if (target === undefined || extra.length > 0)
    throw usageError('init: expected one <dir> (see sip003 init --help)');
  const dir = resolve(target);
  const name = (args.values['name'] as string | undefined) ?? basename(dir);
  if (!NPM_NAME.test(name) || name.length > 214)
    throw usageError(
      `init: --name: expected a lowercase npm package name (a-z, 0-9, - . _ ~), got ${JSON.stringify(name)}`,
    );
  if (!(await isEmptyOrMissing(dir)))
    throw usageError(`init: ${target} exists and is not empty; give a new or empty folder`);
  const sdk = (args.values['sdk'] as string | undefined) ?? `^${await sdkVersion()}`;
  const files = projectFiles({ name, sdk });
  for (const [path, text] of files) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    // 'wx': never overwrite, even if something appeared since the emptiness check.
    await writeFile(join(dir, path), text, { flag: 'wx' });
  }
  io.stdout(`created ${name} in ${target}: ${[...files.keys()].join(', ')}`);
  io.stdout(`next: cd ${target} && npm install && npm test`);
  return 0;
}
