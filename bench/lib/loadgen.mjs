// The load generator: a separate Node process, forked by run.mjs and driven over IPC, so the
// harness's bookkeeping never shares an event loop with the traffic. It owns the target server
// (sink / source / echo / idle holder, see protocol.mjs) and every client that drives a stack.
// Every operation is bounded by a deadline and checks the bytes it moves.

import net from 'node:net';
import { randomFillSync } from 'node:crypto';
import {
  HEADER_LEN,
  OP_UPLOAD,
  OP_DOWNLOAD,
  OP_IDLE,
  OP_ECHO,
  ECHO_LEN,
  UPLOAD_REPLY_LEN,
  checkChunk,
  makeHeader,
  pump,
} from './protocol.mjs';

const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Target server

const serverErrors = []; // protocol or content errors seen by the server (capped)
const ORDINARY = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
let ordinaryServerResets = 0;
const idleHeld = new Set();

function serverError(msg) {
  if (serverErrors.length < 100) serverErrors.push(msg);
}

function onTargetConnection(sock) {
  sock.setNoDelay(true);
  let mode = 'head';
  let head = null;
  // upload state
  let expect = 0;
  let received = 0;
  let contentOk = true;

  sock.on('error', (err) => {
    if (ORDINARY.has(err.code)) ordinaryServerResets++;
    else serverError(`target socket error: ${err.message}`);
  });

  function sink(chunk) {
    if (received + chunk.length > expect) {
      contentOk = false;
      serverError(`upload: received more than the announced ${expect} bytes`);
    } else if (contentOk && !checkChunk(chunk, received)) {
      contentOk = false;
      serverError(`upload: content mismatch near byte ${received}`);
    }
    received += chunk.length;
    if (received >= expect) {
      const reply = Buffer.alloc(UPLOAD_REPLY_LEN);
      reply.writeBigUInt64BE(BigInt(received), 0);
      reply[8] = contentOk ? 0 : 1;
      sock.write(reply);
      mode = 'done';
    }
  }

  sock.on('data', (chunk) => {
    if (mode === 'echo') {
      sock.write(chunk);
      return;
    }
    if (mode === 'upload') {
      sink(chunk);
      return;
    }
    if (mode !== 'head') {
      serverError(`unexpected ${chunk.length} bytes from client in mode ${mode}`);
      sock.destroy();
      return;
    }
    head = head ? Buffer.concat([head, chunk]) : chunk;
    if (head[0] === OP_ECHO) {
      mode = 'echo';
      sock.write(head);
      head = null;
      return;
    }
    if (head.length < HEADER_LEN) return;
    const op = head[0];
    const count = Number(head.readBigUInt64BE(8));
    const rest = head.subarray(HEADER_LEN);
    head = null;
    if (op === OP_UPLOAD) {
      mode = 'upload';
      expect = count;
      if (rest.length > 0 || count === 0) sink(rest);
    } else if (op === OP_DOWNLOAD) {
      mode = 'download';
      if (rest.length > 0) serverError('download: client sent data after the header');
      pump(sock, count).catch((err) => {
        if (!ORDINARY.has(err.code)) serverError(`download source: ${err.message}`);
      });
    } else if (op === OP_IDLE) {
      mode = 'idle';
      idleHeld.add(sock);
      sock.once('close', () => idleHeld.delete(sock));
      sock.write('K');
    } else {
      serverError(`bad header op 0x${op.toString(16)}`);
      sock.destroy();
    }
  });
}

// One listener per stack and round: connections closed by a stack leave TIME_WAIT entries keyed
// by the destination port, so a shared target port would make every stack pay (in connect()
// port searches) for the connections of the stacks measured before it.
const targets = new Map();
function listen() {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ noDelay: true }, onTargetConnection);
    server.on('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
      const port = server.address().port;
      targets.set(port, server);
      resolve({ port });
    });
  });
}
function unlisten({ port }) {
  const server = targets.get(port);
  targets.delete(port);
  if (server) server.close();
  return {};
}

// ---------------------------------------------------------------------------------------------
// Client helpers

/** Runs `fn(cleanup)` with a deadline; on timeout rejects with `what` and destroys the sockets. */
function withDeadline(ms, what, sockets, fn) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      for (const s of sockets) s.destroy();
      reject(new Error(`${what}: timed out after ${ms} ms`));
    }, ms);
    fn().then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        for (const s of sockets) s.destroy();
        reject(e);
      },
    );
  });
}

/** Reads exactly n bytes (used only before any payload flows: SOCKS5, upload reply). */
function readExactly(sock, n) {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const cleanup = () => {
      sock.off('data', onData);
      sock.off('error', onError);
      sock.off('close', onClose);
    };
    const onData = (chunk) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      if (buf.length >= n) {
        cleanup();
        if (buf.length > n) reject(new Error(`expected ${n} bytes, got ${buf.length}`));
        else resolve(buf);
      }
    };
    const onError = (err) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      cleanup();
      reject(new Error(`connection closed after ${buf.length} of ${n} bytes`));
    };
    sock.on('data', onData);
    sock.on('error', onError);
    sock.on('close', onClose);
  });
}

/**
 * Connects to a stack's entry point. entry = { host, port, socks?: { host, port } }: with socks,
 * the entry is a SOCKS5 proxy (ss-local) and the target is socks.host:socks.port.
 */
async function connectEntry(entry, sockHolder) {
  const sock = net.connect({ host: entry.host, port: entry.port, noDelay: true });
  sockHolder.push(sock);
  await new Promise((resolve, reject) => {
    const onErr = (e) => reject(e);
    sock.once('error', onErr);
    sock.once('connect', () => {
      sock.off('error', onErr);
      resolve();
    });
  });
  if (entry.socks) {
    sock.write(Buffer.from([5, 1, 0]));
    const m = await readExactly(sock, 2);
    if (m[0] !== 5 || m[1] !== 0) throw new Error(`SOCKS5 method reply ${m.toString('hex')}`);
    const req = Buffer.from([5, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
    const ip = entry.socks.host.split('.').map(Number);
    for (let i = 0; i < 4; i++) req[4 + i] = ip[i];
    req.writeUInt16BE(entry.socks.port, 8);
    sock.write(req);
    const r = await readExactly(sock, 10);
    if (r[0] !== 5 || r[1] !== 0) throw new Error(`SOCKS5 connect reply ${r.toString('hex')}`);
  }
  return sock;
}

function closeAndWait(sock, ms = 2000) {
  return new Promise((resolve) => {
    if (sock.destroyed) return resolve();
    const t = setTimeout(() => {
      sock.destroy();
      resolve();
    }, ms);
    sock.once('close', () => {
      clearTimeout(t);
      resolve();
    });
    sock.on('error', () => {});
    sock.end();
  });
}

// ---------------------------------------------------------------------------------------------
// Operations

async function upload({ entry, bytes, timeoutMs }) {
  const socks = [];
  return withDeadline(timeoutMs, `upload of ${bytes} bytes`, socks, async () => {
    const sock = await connectEntry(entry, socks);
    const t0 = now();
    const reply = readExactly(sock, UPLOAD_REPLY_LEN);
    reply.catch(() => {});
    await pump(sock, bytes, makeHeader(OP_UPLOAD, bytes));
    const r = await reply;
    const t1 = now();
    const got = Number(r.readBigUInt64BE(0));
    sock.destroy();
    if (got !== bytes) throw new Error(`upload: sink received ${got} bytes, ${bytes} were sent`);
    if (r[8] !== 0) throw new Error('upload: sink saw wrong content (bytes corrupted in transit)');
    return { bytes, seconds: (t1 - t0) / 1000 };
  });
}

function receiveDownload(sock, count) {
  return new Promise((resolve, reject) => {
    let received = 0;
    const cleanup = () => {
      sock.off('data', onData);
      sock.off('error', onError);
      sock.off('close', onClose);
    };
    const onData = (chunk) => {
      if (received + chunk.length > count) {
        cleanup();
        reject(new Error(`download: received more than the ${count} bytes requested`));
        return;
      }
      if (!checkChunk(chunk, received)) {
        cleanup();
        reject(new Error(`download: content mismatch near byte ${received} (bytes corrupted)`));
        return;
      }
      received += chunk.length;
      if (received === count) {
        cleanup();
        resolve(received);
      }
    };
    const onError = (e) => {
      cleanup();
      reject(e);
    };
    const onClose = () => {
      cleanup();
      reject(new Error(`download: connection closed after ${received} of ${count} bytes`));
    };
    sock.on('data', onData);
    sock.on('error', onError);
    sock.on('close', onClose);
  });
}

async function download({ entry, bytes, streams = 1, timeoutMs }) {
  const socks = [];
  return withDeadline(timeoutMs, `download of ${bytes} bytes x${streams}`, socks, async () => {
    const conns = await Promise.all(
      Array.from({ length: streams }, () => connectEntry(entry, socks)),
    );
    const each = Math.floor(bytes / streams);
    const counts = conns.map((_, i) => (i === streams - 1 ? bytes - each * (streams - 1) : each));
    const t0 = now();
    const done = conns.map((sock, i) => {
      const p = receiveDownload(sock, counts[i]);
      sock.write(makeHeader(OP_DOWNLOAD, counts[i]));
      return p;
    });
    const got = await Promise.all(done);
    const t1 = now();
    for (const s of conns) s.destroy();
    const total = got.reduce((a, b) => a + b, 0);
    if (total !== bytes) throw new Error(`download: received ${total} of ${bytes} bytes`);
    return { bytes, seconds: (t1 - t0) / 1000 };
  });
}

async function echoOnce(entry, msg, timeoutMs) {
  const socks = [];
  return withDeadline(timeoutMs, 'echo connection', socks, async () => {
    const t0 = now();
    const sock = await connectEntry(entry, socks);
    const back = readExactly(sock, ECHO_LEN);
    back.catch(() => {});
    sock.write(msg);
    const got = await back;
    const latency = now() - t0;
    if (!got.equals(msg)) throw new Error('echo: content mismatch (bytes corrupted in transit)');
    await closeAndWait(sock, timeoutMs);
    return latency;
  });
}

async function connrate({ entry, concurrency, seconds, maxConns, connTimeoutMs, raw = false }) {
  const latencies = new Float64Array(maxConns);
  let started = 0;
  let completed = 0;
  let failures = 0;
  const errorSamples = [];
  let fatal = null;
  const t0 = now();
  const deadline = t0 + seconds * 1000;
  async function worker() {
    const msg = Buffer.alloc(ECHO_LEN);
    while (!fatal && now() < deadline && started < maxConns) {
      started++;
      msg[0] = OP_ECHO;
      randomFillSync(msg, 1);
      try {
        const lat = await echoOnce(entry, Buffer.from(msg), connTimeoutMs);
        latencies[completed++] = lat;
      } catch (e) {
        if (/content mismatch/.test(e.message)) fatal = e;
        failures++;
        if (errorSamples.length < 5) errorSamples.push(e.message);
        await sleep(5);
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (now() - t0) / 1000;
  if (fatal) throw fatal;
  const lat = Array.from(latencies.subarray(0, completed)).sort((a, b) => a - b);
  const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : NaN);
  return {
    conns: completed,
    failures,
    errorSamples,
    seconds: elapsed,
    rate: completed / elapsed,
    p50: pct(0.5),
    p99: pct(0.99),
    // milliseconds, rounded to the microsecond, when the caller combines several windows
    latencies: raw ? lat.map((x) => Math.round(x * 1000) / 1000) : undefined,
  };
}

const idleClient = [];
let idleDropped = 0;

async function idleOpen({ entry, count, batch = 50, timeoutMs }) {
  const t0 = now();
  const openOne = async () => {
    const socks = [];
    const sock = await withDeadline(timeoutMs, 'idle connection', socks, async () => {
      const s = await connectEntry(entry, socks);
      const k = readExactly(s, 1);
      k.catch(() => {});
      s.write(makeHeader(OP_IDLE));
      const got = await k;
      if (got[0] !== 0x4b) throw new Error('idle: wrong acknowledgement byte');
      return s;
    });
    sock.on('error', () => {});
    sock.once('close', () => {
      if (!sock.closingOnPurpose) idleDropped++;
    });
    idleClient.push(sock);
  };
  let opened = 0;
  while (opened < count) {
    if (now() - t0 > timeoutMs) throw new Error(`idle: opened only ${opened} of ${count}`);
    const n = Math.min(batch, count - opened);
    await Promise.all(Array.from({ length: n }, openOne));
    opened += n;
  }
  return { opened, held: idleHeld.size, dropped: idleDropped, seconds: (now() - t0) / 1000 };
}

async function idleClose({ timeoutMs = 10000 } = {}) {
  for (const s of idleClient) {
    s.closingOnPurpose = true;
    s.destroy();
  }
  const n = idleClient.length;
  idleClient.length = 0;
  const dropped = idleDropped;
  idleDropped = 0;
  const t0 = now();
  while (idleHeld.size > 0 && now() - t0 < timeoutMs) await sleep(20);
  return { closed: n, droppedBeforeClose: dropped, stillHeldByServer: idleHeld.size };
}

/** Retries one echo until it works or the deadline passes: a stack is ready when this passes. */
async function probe({ entry, timeoutMs }) {
  const t0 = now();
  let last;
  let tries = 0;
  while (now() - t0 < timeoutMs && tries < 1000) {
    tries++;
    const msg = Buffer.alloc(ECHO_LEN);
    msg[0] = OP_ECHO;
    randomFillSync(msg, 1);
    try {
      await echoOnce(entry, msg, Math.min(3000, timeoutMs));
      return { tries, seconds: (now() - t0) / 1000 };
    } catch (e) {
      if (/content mismatch/.test(e.message)) throw e;
      last = e;
      await sleep(50);
    }
  }
  throw new Error(`stack not answering echo after ${tries} tries: ${last?.message}`);
}

const handlers = {
  listen,
  unlisten,
  upload,
  download,
  connrate,
  idleOpen,
  idleClose,
  probe,
  errors: () => ({ serverErrors: serverErrors.splice(0), ordinaryServerResets }),
};

process.on('message', async (msg) => {
  const { id, cmd, args } = msg;
  try {
    const h = handlers[cmd];
    if (!h) throw new Error(`unknown command ${cmd}`);
    const result = await h(args ?? {});
    // Content errors seen on the server side fail the operation that caused them.
    if (serverErrors.length && cmd !== 'errors' && cmd !== 'listen' && cmd !== 'unlisten') {
      throw new Error(`target server: ${serverErrors.splice(0).join('; ')}`);
    }
    process.send({ id, ok: true, result });
  } catch (e) {
    process.send({ id, ok: false, error: e?.message ?? String(e) });
  }
});
process.on('disconnect', () => process.exit(0));
