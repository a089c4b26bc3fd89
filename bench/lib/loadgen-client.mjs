// The load generator's client side: it runs in its own process (lib/loadgen.mjs), driven over
// IPC, so that its CPU use is never counted as the stack's.

import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class LoadGen {
  constructor() {
    this.proc = fork(path.join(HERE, 'loadgen.mjs'), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.pending = new Map();
    this.nextId = 1;
    this.exited = false;
    this.proc.on('message', (m) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(m.error));
    });
    this.proc.on('exit', (code, signal) => {
      this.exited = true;
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(`load generator exited (${code ?? signal})`));
      }
      this.pending.clear();
    });
  }
  call(cmd, args, timeoutMs) {
    if (this.exited) return Promise.reject(new Error('load generator is not running'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`load generator: ${cmd} got no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.proc.send({ id, cmd, args });
    });
  }
  async stop() {
    if (this.exited) return;
    const pid = this.proc.pid;
    const gone = new Promise((r) => this.proc.once('exit', r));
    this.proc.disconnect();
    await Promise.race([gone, sleep(2000)]);
    if (!this.exited) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}
