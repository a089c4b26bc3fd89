/**
 * Watching a plugin project's source files for `sip003 dev`: which folder is the project, which
 * changed paths count, and one debounced callback per burst of changes.
 */
import { existsSync, readdirSync, watch, type FSWatcher } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';

/** The nearest folder at or above `entry`'s with a package.json; the entry's folder if none. */
export function projectDir(entry: string): string {
  for (let dir = dirname(entry); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return dirname(entry);
  }
}

const SOURCE = /\.(c|m)?[jt]sx?$|\.json$/;

/**
 * Whether a change at `path` (relative to the project) is one to restart for: a source file, not
 * under node_modules or a dot-folder, nor under dist/ unless the entry itself is a build output
 * there (then any file of dist/ counts: a bundle has no extension).
 */
export function isSourceChange(path: string, entryInDist: boolean): boolean {
  const parts = path.split(sep);
  if (parts.some((part) => part === 'node_modules' || part.startsWith('.'))) return false;
  if (parts[0] === 'dist') return entryInDist;
  return SOURCE.test(path);
}

/** Folders never watched: dependencies, VCS and tool state. */
const skipDir = (name: string): boolean => name === 'node_modules' || name.startsWith('.');

/** At most this many folders are watched: a project is small; this bounds a mistaken root. */
const MAX_DIRS = 2000;

/** A running watch; `close()` ends it. */
export interface SourceWatch {
  close(): void;
}

/**
 * Calls `onChange(relativePath)` once `debounceMs` after the last of a burst of source changes
 * under `root` (an editor's save is several events), with the first path of the burst.
 * macOS and Windows watch a tree natively (`recursive`); Node 20 on Linux emulates that with one
 * watcher per file, node_modules included, so there each folder is watched on its own instead,
 * skipping node_modules, and new folders are added as they appear.
 */
export function watchSources(
  root: string,
  entryInDist: boolean,
  onChange: (path: string) => void,
  {
    debounceMs = 200,
    maxDirs = MAX_DIRS,
    onLimit,
  }: {
    debounceMs?: number;
    maxDirs?: number;
    /** Called once when a folder is left unwatched because `maxDirs` are watched already. */
    onLimit?: (maxDirs: number) => void;
  } = {},
): SourceWatch {
  let limited = false;
  let timer: NodeJS.Timeout | undefined;
  let first: string | undefined;
  const changed = (path: string): void => {
    if (!isSourceChange(path, entryInDist)) return;
    first ??= path;
    clearTimeout(timer);
    timer = setTimeout(() => {
      const path = first ?? '';
      first = undefined;
      onChange(path);
    }, debounceMs);
  };
  const watchers = new Map<string, FSWatcher>();
  const close = (): void => {
    clearTimeout(timer);
    for (const watcher of watchers.values()) watcher.close();
    watchers.clear();
  };
  if (process.platform === 'darwin' || process.platform === 'win32') {
    watchers.set(
      root,
      watch(root, { recursive: true }, (_event, name) => {
        if (name !== null) changed(name);
      }),
    );
    return { close };
  }
  const add = (dir: string): void => {
    if (watchers.has(dir)) return;
    if (watchers.size >= maxDirs) {
      if (!limited) onLimit?.(maxDirs);
      limited = true;
      return;
    }
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, (_event, name) => {
        if (name === null) return;
        const path = join(dir, name);
        // A new folder (a rename event is how it appears) gets its own watcher.
        if (!skipDir(name) && existsSync(path) && !watchers.has(path)) addTree(path);
        changed(relative(root, path));
      });
    } catch {
      return; // removed meanwhile, or not a folder
    }
    // A watched folder that is deleted reports an error; the folder is simply gone.
    watcher.on('error', () => {
      watcher.close();
      watchers.delete(dir);
    });
    watchers.set(dir, watcher);
  };
  const addTree = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // a file, or gone
    }
    add(dir);
    for (const entry of entries) {
      if (entry.isDirectory() && !skipDir(entry.name)) addTree(join(dir, entry.name));
    }
  };
  addTree(root);
  return { close };
}
