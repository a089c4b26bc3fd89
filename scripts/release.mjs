// `pnpm release`: writes dist/release/ from a built workspace (`pnpm build` runs first):
//   <plugin>-<version>-linux-x64 and -linux-arm64 for each plugin: standalone executables on the
//   release node (RELEASE_NODE_VERSION in packages/sdk/src/cli/node-download.ts, the only place it
//   is pinned), both built on this machine;
//   the npm tarballs of every workspace package (`pnpm -r pack`);
//   SHA256SUMS over all of them, in `sha256sum` format, so `sha256sum -c SHA256SUMS` checks the
//   files from inside dist/release.
// Exit code: 0 written, 1 a step failed (its output is above).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = path.join(root, 'dist', 'release');
const sip003 = path.join(root, 'packages', 'sdk', 'bin', 'sip003.js');
const PLUGINS = ['obfs-http-plugin', 'noop-plugin'];
const TARGETS = ['linux-x64', 'linux-arm64'];

function run(command, args) {
  console.log(`release: ${[command, ...args].map((a) => path.relative(root, a) || a).join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`release: ${command} failed (${result.signal ?? `exit ${result.status}`})`);
    process.exit(1);
  }
}

async function sha256(file) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  return hash.digest('hex');
}

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });

for (const plugin of PLUGINS) {
  const dir = path.join(root, 'packages', plugin);
  const { version } = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8'));
  for (const target of TARGETS) {
    const file = path.join(out, `${plugin}-${version}-${target}`);
    run(process.execPath, [
      sip003,
      'bundle',
      path.join(dir, 'src', 'main.ts'),
      '-o',
      file,
      '--standalone',
      '--target',
      target,
    ]);
    // One SHA256SUMS for the folder instead of a .sha256 beside each file.
    await rm(`${file}.sha256`);
  }
}

run('pnpm', ['-r', 'pack', '--pack-destination', out]);

const files = (await readdir(out)).filter((name) => name !== 'SHA256SUMS').sort();
const lines = [];
for (const name of files) lines.push(`${await sha256(path.join(out, name))}  ${name}`);
await writeFile(path.join(out, 'SHA256SUMS'), `${lines.join('\n')}\n`);
console.log(`release: wrote ${path.relative(root, out)}/ (${files.length} files + SHA256SUMS)`);
for (const name of files) console.log(`  ${name}`);
