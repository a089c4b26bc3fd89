// Wire protocol between the load generator's clients and its target server, plus the data
// pattern used to check every byte that moves.
//
// Every connection starts with a 16-byte header: byte 0 is the operation, bytes 8..15 a
// big-endian uint64 byte count (ignored for ECHO and IDLE).
//   UPLOAD   'U': the client then sends `count` bytes of the pattern; the server checks them and
//                 answers with 9 bytes: uint64 bytes received + 1 status byte (0 = content ok).
//   DOWNLOAD 'D': the server sends `count` bytes of the pattern; the client checks them.
//   IDLE     'I': the server answers one byte 'K' and then holds the connection open.
//   ECHO     'E': no header: the client sends 64 bytes whose first byte is 'E'; the server echoes
//                 every byte it receives.
// The stream payload byte at offset s is PATTERN[s % PATTERN_LEN], so any chunk can be checked
// with memcmp against DOUBLED without copying.

export const HEADER_LEN = 16;
export const OP_UPLOAD = 0x55; // 'U'
export const OP_DOWNLOAD = 0x44; // 'D'
export const OP_IDLE = 0x49; // 'I'
export const OP_ECHO = 0x45; // 'E'
export const ECHO_LEN = 64;
export const UPLOAD_REPLY_LEN = 9;

/** A prime, so the pattern period never lines up with socket read sizes. */
export const PATTERN_LEN = 65521;

function makePattern() {
  // xorshift32 with a fixed seed: the same bytes in every process, no crypto needed.
  const out = Buffer.allocUnsafe(PATTERN_LEN);
  let x = 0x9e3779b9;
  for (let i = 0; i < PATTERN_LEN; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

export const PATTERN = makePattern();
const DOUBLED = Buffer.concat([PATTERN, PATTERN]);
/** What writers send: the pattern 16 times (~1 MiB), so every full write starts at offset 0. */
export const SEND_BUF = Buffer.concat(Array.from({ length: 16 }, () => PATTERN));

/** True when `chunk` equals the pattern stream at stream offset `offset`. */
export function checkChunk(chunk, offset) {
  let i = 0;
  const len = chunk.length;
  while (i < len) {
    const k = (offset + i) % PATTERN_LEN;
    const n = Math.min(len - i, PATTERN_LEN);
    if (DOUBLED.compare(chunk, i, i + n, k, k + n) !== 0) return false;
    i += n;
  }
  return true;
}

export function makeHeader(op, count = 0) {
  const h = Buffer.alloc(HEADER_LEN);
  h[0] = op;
  h.writeBigUInt64BE(BigInt(count), 8);
  return h;
}

/**
 * Writes `bytes` bytes of the pattern to `sock`, honouring backpressure. Resolves when the last
 * write has been handed to the socket; rejects on socket error or close before that.
 */
export function pump(sock, bytes, first) {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      sock.off('drain', go);
      sock.off('error', onError);
      sock.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onError = (err) => finish(err);
    const onClose = () => finish(new Error(`socket closed after ${sent} of ${bytes} bytes sent`));
    function go() {
      if (done) return;
      while (sent < bytes) {
        const n = Math.min(SEND_BUF.length, bytes - sent);
        sent += n;
        const ok = sock.write(n === SEND_BUF.length ? SEND_BUF : SEND_BUF.subarray(0, n));
        if (!ok) {
          sock.once('drain', go);
          return;
        }
      }
      finish();
    }
    sock.on('error', onError);
    sock.on('close', onClose);
    if (first) sock.write(first);
    go();
  });
}
