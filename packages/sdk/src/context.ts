import type { Socket } from 'node:net';
import type { Endpoint } from './address.ts';
import type { Mode, SessionContext } from './codec.ts';
import type { PluginEnv } from './env.ts';
import type { Logger } from './log.ts';
import type { Relay, RelayRoute } from './relay.ts';

/** What every connection of a plugin shares. */
export interface SharedContext<O> {
  readonly mode: Mode;
  readonly options: O;
  readonly env: PluginEnv;
  readonly log: Logger;
}

/**
 * The per-connection SessionContext, also the relay's route. A class with lazy `log` and `signal`:
 * most connections never touch them, and a logger child and an AbortController per connection
 * are measurable at thousands of connections.
 */
export class ConnectionContext<O> implements SessionContext<O>, RelayRoute {
  readonly id: number;
  target: Endpoint;
  relay: Relay | undefined;
  readonly #shared: SharedContext<O>;
  readonly #socket: Socket;
  #log: Logger | undefined;
  #controller: AbortController | undefined;
  #closed = false;

  constructor(id: number, shared: SharedContext<O>, socket: Socket, target: Endpoint) {
    this.id = id;
    this.#shared = shared;
    this.#socket = socket;
    this.target = target;
  }

  get mode(): Mode {
    return this.#shared.mode;
  }
  get options(): O {
    return this.#shared.options;
  }
  get env(): PluginEnv {
    return this.#shared.env;
  }
  get peer(): Endpoint {
    return { host: this.#socket.remoteAddress ?? '', port: this.#socket.remotePort ?? 0 };
  }
  get log(): Logger {
    this.#log ??= this.#shared.log.child({ conn: this.id });
    return this.#log;
  }
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#closed) this.#controller.abort();
    }
    return this.#controller.signal;
  }
  redirect(to: Endpoint): void {
    this.target = to;
  }
  respond(data: Uint8Array): void {
    if (this.relay === undefined) {
      if (!this.#socket.destroyed) this.#socket.write(data);
    } else this.relay.respond(data);
  }
  /** Called by the relay's onClose: fires `signal` if anyone is listening. */
  closed(error: Error | undefined): void {
    this.#closed = true;
    this.#controller?.abort(error);
  }
}
