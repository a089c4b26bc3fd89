// A plugin project in a temporary folder, outside the workspace (the README guide's, or one that
// `sip003 init` wrote), given this workspace's packages as `npm install` would give them.
import { spawnSync } from 'node:child_process';
import { mkdir, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { repoRoot } from './helpers.ts';

/** node_modules as `npm install @sip003/sdk vitest typescript @types/node` would make it. */
export async function linkWorkspaceModules(dir: string): Promise<void> {
  const modules = join(dir, 'node_modules');
  await mkdir(join(modules, '@sip003'), { recursive: true });
  await mkdir(join(modules, '@types'), { recursive: true });
  await symlink(resolve(repoRoot, 'packages/sdk'), join(modules, '@sip003/sdk'));
  await symlink(resolve(repoRoot, 'node_modules/@types/node'), join(modules, '@types/node'));
  await symlink(resolve(repoRoot, 'node_modules/vitest'), join(modules, 'vitest'));
}

/** `tsc -p <project>` with the workspace's TypeScript: its output and exit status. */
export function typecheckProject(project: string): { output: string; status: number | null } {
  const tsc = spawnSync(
    process.execPath,
    [resolve(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', project],
    { encoding: 'utf8' },
  );
  return { output: tsc.stdout + tsc.stderr, status: tsc.status };
}

/** `vitest run` in the project's folder: its stdout and exit status. */
export function testProject(dir: string): { stdout: string; status: number | null } {
  const vitest = spawnSync(
    process.execPath,
    [resolve(repoRoot, 'node_modules/vitest/vitest.mjs'), 'run', '--root', dir],
    { encoding: 'utf8', env: { ...process.env, CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0' } },
  );
  return { stdout: vitest.stdout, status: vitest.status };
}
