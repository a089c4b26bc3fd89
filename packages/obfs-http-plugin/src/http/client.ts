import type { Codec, Push } from '@sip003/sdk';
import { ProtocolError } from '@sip003/sdk';
import { MAX_FIRST_PACKET, type ClientWire } from '../constants.ts';
import { buildRequest, type RequestOptions } from './request.ts';

/**
 * The client half of HTTP mode: the first chunk becomes request header + payload (§2.1), later
 * chunks go raw, and the server's reply loses its response header (§2.4). `request` is read at
 * the first chunk, since the Host port is the port actually dialed.
 */
export function httpClientWire(request: () => RequestOptions): ClientWire {
  return {
    first: (chunk) => buildRequest(request(), chunk),
    later: (data, push) => push(data),
    decode: new HttpResponseDecoder(),
  };
}

const CR = 0x0d;
const LF = 0x0a;

/**
 * Client-side decoder of the server's reply (§2.4): drops everything up to and including the
 * first CR LF CR LF and passes the rest on raw. Status line and headers are not checked, like
 * 0.0.5. Unlike 0.0.5 the header may arrive in any number of reads (fix for §10 row 1); it holds
 * no bytes, only the match state, and gives up after MAX_FIRST_PACKET bytes.
 */
export class HttpResponseDecoder implements Codec {
  /** How much of CR LF CR LF the bytes seen so far end with (0-3), or 4 once found. */
  #matched = 0;
  #seen = 0;

  transform(chunk: Buffer, push: Push): void {
    if (this.#matched === 4) {
      push(chunk);
      return;
    }
    const limit = Math.min(chunk.length, MAX_FIRST_PACKET - this.#seen);
    let state = this.#matched;
    let i = 0;
    while (i < limit && state < 4) {
      const byte = chunk[i++];
      if (byte === CR) state = state === 2 ? 3 : 1;
      else if (byte === LF && (state === 1 || state === 3)) state++;
      else state = 0;
    }
    this.#matched = state;
    this.#seen += i;
    if (state === 4) {
      push(chunk.subarray(i));
      return;
    }
    if (this.#seen >= MAX_FIRST_PACKET) {
      throw new ProtocolError(
        `HTTP response header: no blank line within ${MAX_FIRST_PACKET} bytes`,
      );
    }
  }

  flush(): void {
    if (this.#matched !== 4 && this.#seen > 0) {
      throw new ProtocolError(
        `HTTP response header: stream ended after ${this.#seen} bytes, before the blank line`,
      );
    }
  }
}
