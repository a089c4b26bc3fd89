// Processes and /proc: spawning plugins with bounded waits, ending them by PID, and reading their
// RSS and CPU time. Linux only.

import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, accessSync, constants } from 'node:fs';
import path from 'node:path';
// The SDK test kit's port helpers (built by `pnpm build`, which the plugins need anyway).
import { freePort, isRunning, waitForPort } from '../../packages/sdk/dist/testing/index.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let clkTck = 100;
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // keep 100, the Linux default
}

/** Every process this run started and has not yet reaped, so SIGINT can end them all by PID. */
export const live = new Set();

/**
 * Resolves a binary: a name containing '/' is a path (relative to `root`), otherwise it is
 * looked up on PATH. Returns the absolute path, or undefined when missing / not executable.
 */
export function resolveBinary(bin, root) {
  const isExec = (p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (bin.includes('/')) {
    const p = path.resolve(root, bin);
    return isExec(p) ? p : undefined;
  }
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    const p = path.join(dir, bin);
    if (isExec(p)) return p;
  }
  return undefined;
}

/**
 * Starts a long-running child with a pipe stdin (kept open), stdout/stderr captured to a small
 * ring, and an `exited` promise. `label` names it in errors.
 */
export function startProcess(label, file, args, env) {
  const child = spawn(file, args, {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: false,
  });
  const rec = { label, child, pid: child.pid, output: '', exitInfo: undefined };
  const keep = (d) => {
    rec.output = (rec.output + d.toString()).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.stdin.on('error', () => {});
  rec.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      rec.exitInfo = { code, signal };
      live.delete(rec);
      resolve(rec.exitInfo);
    });
    child.on('error', (err) => {
      rec.exitInfo = { code: null, signal: null, error: err.message };
      live.delete(rec);
      resolve(rec.exitInfo);
    });
  });
  if (child.pid !== undefined) live.add(rec);
  return rec;
}

function readStat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state); field N is rest[N - 3]
    return { ppid: Number(rest[1]), utime: Number(rest[11]), stime: Number(rest[12]) };
  } catch {
    return undefined;
  }
}

/** pid and all its live descendants (scanning /proc once). */
export function processTree(pid) {
  const children = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = readStat(d);
    if (!st) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(Number(d));
    children.set(st.ppid, list);
  }
  const out = [];
  const stack = [pid];
  while (stack.length && out.length < 1000) {
    const p = stack.pop();
    out.push(p);
    for (const c of children.get(p) ?? []) stack.push(c);
  }
  return out;
}

/** RSS in KiB of pid's whole tree (VmRSS from /proc/<pid>/status). */
export function treeRssKiB(pid) {
  let sum = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) sum += Number(m[1]);
    } catch {
      // exited meanwhile
    }
  }
  return sum;
}

/** CPU seconds (utime + stime) of pid's whole tree. */
export function treeCpuSeconds(pid) {
  let ticks = 0;
  for (const p of processTree(pid)) {
    const st = readStat(p);
    if (st) ticks += st.utime + st.stime;
  }
  return ticks / clkTck;
}

/** SIGTERM to the process and its descendants by PID, SIGKILL to any left after graceMs. */
export async function stopProcess(rec, graceMs = 2000) {
  if (rec.exitInfo) return rec.exitInfo;
  const pids = processTree(rec.pid);
  const signal = (sig) => {
    for (const p of pids) {
      if (p === rec.pid ? rec.exitInfo : !isRunning(p)) continue;
      try {
        process.kill(p, sig);
      } catch {
        // already gone
      }
    }
  };
  const allGone = () => pids.every((p) => (p === rec.pid ? rec.exitInfo : !isRunning(p)));
  signal('SIGTERM');
  const end = Date.now() + graceMs;
  while (!allGone() && Date.now() < end) await sleep(20);
  if (!allGone()) signal('SIGKILL');
  await Promise.race([rec.exited, sleep(1000)]);
  return rec.exitInfo;
}

/** Synchronous last resort for signal handlers: SIGKILL every live process tree by PID. */
export function killAllNow() {
  for (const rec of live) {
    for (const p of processTree(rec.pid)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

/**
 * Listening ports come from the SDK test kit's freePort: below the kernel's ephemeral range, where
 * the tens of thousands of outgoing connections of a conn-rate test cannot take them as source
 * ports before the plugin listens (seen: EADDRINUSE in round 5 of a full run).
 */
export { freePort };

/**
 * Waits until every port accepts a TCP connection (the kit's waitForPort: connect, then close
 * without sending), or one of the processes exits.
 */
export async function waitListening(ports, recs, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  const died = Promise.race(
    recs.map((r) =>
      r.exited.then(() => {
        throw new Error(
          `${r.label} exited (${JSON.stringify(r.exitInfo)}) before listening; output:\n${r.output}`,
        );
      }),
    ),
  );
  died.catch(() => {}); // lost the race: nothing to report
  const listening = (async () => {
    for (const port of ports) {
      await waitForPort(port, { timeoutMs: Math.max(1, deadline - Date.now()) });
    }
  })();
  try {
    await Promise.race([listening, died]);
  } catch (e) {
    if (recs.some((r) => r.exitInfo) || !/nothing listens/.test(e.message)) throw e;
    throw new Error(
      `timed out after ${timeoutMs} ms: ${e.message}; ` +
        recs.map((r) => `${r.label} output:\n${r.output}`).join('\n'),
      { cause: e },
    );
  }
}
