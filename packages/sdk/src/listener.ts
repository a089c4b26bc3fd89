import { createServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { ListenError, errnoCode } from './errors.ts';
import { formatEndpoint, type Endpoint } from './address.ts';

function ignore(): void {
  // An 'error' on a socket being refused or waiting for its admission: it is reset anyway.
}

/**
 * Decides whether an accepted connection may stay. The kernel's accept cannot be refused, so a
 * connection over the limit is accepted and reset at once.
 */
export interface ConnectionGate {
  /** true: keep it; false: reset it. A promise when another process keeps the count. */
  acquire(): boolean | Promise<boolean>;
  /** A kept connection closed. */
  release(): void;
}

/** The gate of a single process: at most `max` connections open at once. */
export function countingGate(max: number): ConnectionGate {
  let open = 0;
  return {
    acquire: () => open < max && ++open > 0,
    release: () => {
      open--;
    },
  };
}

/**
 * Called for every accepted socket (already `allowHalfOpen` and `noDelay`). It must add an
 * 'error' listener before it returns.
 */
export type ConnectionHandler = (socket: Socket) => void;

export interface ListenOptions {
  /** One or more hosts (an `a|b` list from SS_REMOTE_HOST); all share `port`. */
  hosts: readonly string[];
  /** 0 picks a free port (then all hosts share the first one picked). */
  port: number;
  /** Which connections may stay (e.g. `countingGate(max)`); default: all. */
  gate?: ConnectionGate;
  /** Called when the gate refused a connection (it has been reset). */
  onDrop?: () => void;
}

/** Open listening sockets and the connections they accepted. */
export interface Listener {
  readonly addresses: readonly Endpoint[];
  /** Sockets accepted and not yet closed. */
  readonly connections: ReadonlySet<Socket>;
  /** Stops accepting. Open connections are left alone (see `destroyAll`). Idempotent. */
  stopAccepting(): Promise<void>;
  /** Resets and destroys every open connection. */
  destroyAll(): void;
  /** Stops accepting, destroys open connections, resolves when all have closed. Idempotent. */
  close(): Promise<void>;
}

const ERRNO_TEXT: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available on this machine',
  EACCES: 'permission denied',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
};

function listenOne(server: Server, host: string, port: number, ipv6Only: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      const code = errnoCode(error) ?? 'error';
      reject(
        new ListenError(
          host,
          port,
          `cannot listen on ${formatEndpoint({ host, port })}: ${ERRNO_TEXT[code] ?? error.message} (${code})`,
          { cause: error },
        ),
      );
    };
    server.once('error', onError);
    // exclusive: false lets `workers=N` cluster workers share the socket; alone it changes nothing.
    server.listen({ host, port, ipv6Only, exclusive: false }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/**
 * Listens on every host of the list. `::` is dual-stack unless the list also names `0.0.0.0`, in
 * which case each family gets its own socket (otherwise the second bind fails with EADDRINUSE).
 */
export async function listen(
  options: ListenOptions,
  onConnection: ConnectionHandler,
): Promise<Listener> {
  const connections = new Set<Socket>();
  const servers: Server[] = [];
  const addresses: Endpoint[] = [];
  const gate = options.gate;
  const hasV4Any = options.hosts.includes('0.0.0.0');
  let port = options.port;
  let closed = false;
  // One handler for every socket (no closure per connection).
  const forget = function (this: Socket): void {
    connections.delete(this);
    gate?.release();
  };
  const refuse = (socket: Socket): void => {
    options.onDrop?.();
    socket.on('error', ignore);
    socket.resetAndDestroy();
  };
  const admit = (socket: Socket): void => {
    connections.add(socket);
    socket.once('close', forget);
    // The handler must attach its 'error' listener before returning (the relay does).
    onConnection(socket);
  };
  const accept = (socket: Socket): void => {
    const verdict = gate?.acquire() ?? true;
    if (verdict === true) admit(socket);
    else if (verdict === false) refuse(socket);
    else {
      // Waiting for another process's answer: the socket buffers at most its high-water mark.
      socket.on('error', ignore);
      void verdict.then((ok) => {
        socket.off('error', ignore);
        if (!ok) refuse(socket);
        // A peer that left while we waited (a port probe): its 'end' may already have been
        // emitted, unseen by any relay, which would then wait for it forever holding a slot.
        else if (closed || socket.destroyed || socket.readableEnded) {
          gate?.release();
          socket.on('error', ignore);
          socket.resetAndDestroy();
        } else admit(socket);
      });
    }
  };
  try {
    for (const host of options.hosts) {
      const server = createServer(
        { allowHalfOpen: true, noDelay: true, pauseOnConnect: false },
        accept,
      );
      servers.push(server);
      await listenOne(server, host, port, host === '::' && hasV4Any);
      const address = server.address() as AddressInfo;
      port = address.port;
      addresses.push({ host, port: address.port });
    }
  } catch (error) {
    for (const server of servers) server.close();
    throw error;
  }

  // net.Server#close() stops accepting at once but calls back only when every connection has
  // closed, so "stopped accepting" and "all closed" are two different promises.
  let allClosed: Promise<void> | undefined;
  const stopAccepting = (): Promise<void> => {
    closed = true;
    allClosed ??= Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            // The callback's only possible error is "not running", which is fine here.
            server.close(() => resolve());
          }),
      ),
    ).then(() => undefined);
    return Promise.resolve();
  };
  // A cut connection is reset, so the peer cannot take it for a clean end of data.
  const destroyAll = (): void => {
    for (const socket of connections) {
      if (!socket.destroyed) socket.resetAndDestroy();
    }
  };
  return {
    addresses,
    connections,
    stopAccepting,
    destroyAll,
    async close() {
      await stopAccepting();
      destroyAll();
      await allClosed;
    },
  };
}
