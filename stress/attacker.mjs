// A hostile client in its own process, so its CPU is not the harness's: started by stress/run.mjs
// through bench/lib/proc.mjs and ended by PID. Modes (issue 9, defects 1 and 2):
//   tiny-records  a ClientHello that passes obfs-server's checks, then `17 03 03 00 01 61` repeated
//   one-byte      `GET / HTTP/1.1\r\nX: ` then the header one byte per write, never finished
// With --bytes N each of --count connections sends N bytes (then holds the connection and prints
// `settled`); with --bytes 0 one connection attacks without end, reconnecting when closed.
// --read drains what comes back; without it the attacker never reads (a slow client).

import net from 'node:net';
import { randomFillSync } from 'node:crypto';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    mode: { type: 'string' },
    port: { type: 'string' },
    count: { type: 'string', default: '1' },
    bytes: { type: 'string', default: '0' },
    read: { type: 'boolean', default: false },
    // Bytes per second (0 = as fast as the socket takes them).
    rate: { type: 'string', default: '0' },
  },
});
const port = Number(values.port);
const count = Number(values.count);
const bytes = Number(values.bytes);
const rate = Number(values.rate);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The fields obfs-server checks (spec §3.4): fixed bytes, SessionTicket first at 138, lengths. */
function clientHello() {
  const hello = Buffer.alloc(200);
  hello.set([0x16, 0x03, 0x01], 0);
  hello.writeUInt16BE(hello.length - 5, 3);
  hello[5] = 0x01;
  hello.writeUInt16BE(hello.length - 9, 7);
  hello.set([0x03, 0x03], 9);
  randomFillSync(hello, 11, 32);
  hello[43] = 32;
  randomFillSync(hello, 44, 32);
  hello.writeUInt16BE(hello.length - 138, 136);
  hello.writeUInt16BE(0x0023, 138);
  hello.writeUInt16BE(1, 140); // one payload byte, so the server dials upstream at once
  hello[142] = 0x61;
  return hello;
}

const TINY = Buffer.from('170303000161'.repeat(2731), 'hex'); // 16 KiB of 1-byte records
const HTTP_PREFIX = Buffer.from('GET / HTTP/1.1\r\nX: ', 'latin1');
const ONE = Buffer.from('a');

function open() {
  const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
  socket.on('error', () => undefined);
  if (values.read) socket.on('data', () => undefined);
  else socket.pause();
  return socket;
}

/** Writes, then waits for 'drain'; false when the socket closed or stayed full for `stallMs`. */
function send(socket, data, stallMs = 2000) {
  if (socket.destroyed) return Promise.resolve(false);
  if (socket.write(data)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok) => {
      clearTimeout(timer);
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => done(false), stallMs);
    socket.on('drain', onDrain);
    socket.on('close', onClose);
  });
}

/** One connection's attack; resolves with the bytes sent once done, stalled or closed. */
async function attack(socket, limit) {
  await new Promise((resolve) => socket.once('connect', resolve).once('close', resolve));
  let sent = 0;
  const more = () => limit === 0 || sent < limit;
  if (values.mode === 'tiny-records') {
    if (!(await send(socket, clientHello()))) return sent;
    const t0 = performance.now();
    while (more()) {
      const piece = limit === 0 ? TINY : TINY.subarray(0, Math.min(TINY.length, limit - sent));
      if (!(await send(socket, piece))) break;
      sent += piece.length;
      if (rate > 0) {
        const early = t0 + (sent / rate) * 1000 - performance.now();
        if (early > 0) await sleep(early);
      }
    }
  } else {
    if (!(await send(socket, HTTP_PREFIX))) return sent;
    // One byte per write, a timer tick apart, so each lands in its own read on the plugin's side.
    while (more() && !socket.destroyed) {
      socket.write(ONE);
      sent++;
      await sleep(0);
    }
  }
  return sent;
}

if (bytes === 0) {
  for (let i = 0; i < 1_000_000; i++) await attack(open(), 0);
} else {
  const sockets = Array.from({ length: count }, open);
  const sent = await Promise.all(sockets.map((s) => attack(s, bytes)));
  const open_ = sockets.filter((s) => !s.destroyed).length;
  console.log(`settled sent=${sent.reduce((a, b) => a + b, 0)} open=${open_}`);
  setInterval(() => undefined, 60_000); // hold the connections until ended by PID
}
