import type { Client } from "pg";

/** Where pg's Client keeps its socket; not in its types. */
interface ClientSocket {
  connection?: {
    stream?: {
      destroy(): void;
      destroyed?: boolean;
      once(event: "close", listener: () => void): void;
    };
  };
}

interface Watched {
  connected: boolean;
  /** Settles when the client has emitted `end` or its socket has closed, whenever. */
  ended: Promise<void>;
  /** The first `end()` asked for: a later one waits for it rather than starting again. */
  ending?: Promise<void>;
}

/** How long a connected client's goodbye may take before its socket is cut. */
const GOODBYE_MS = 1000;
/** How long a cut socket may take to close before its end is no longer waited for. */
const CLOSE_MS = 1000;

function within(ms: number, promise: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * Connects and ends pg clients so that ending one takes a bounded time whatever the
 * network does. pg's `end()` sends a goodbye and waits for the server's side of the close,
 * which a network that carries nothing never brings; mid-connect it also leaves the
 * connect's promise unsettled for good. So a client still connecting has its socket cut
 * instead (its connect then fails), and a connected one is cut when its goodbye takes
 * GOODBYE_MS. The client's `end` event is watched from before its connect, so an end
 * that has already happened is not waited for again.
 */
export class ConnectionEnds {
  private readonly watched = new WeakMap<Client, Watched>();

  async connect(client: Client): Promise<void> {
    const stream = (client as unknown as ClientSocket).connection?.stream;
    const watched: Watched = {
      connected: false,
      // The socket's close as well: a connect that fails before pg watches its connection
      // (a bad port, say) ends the socket without the client's `end`.
      ended: new Promise((resolve) => {
        client.once("end", () => resolve());
        stream?.once("close", () => resolve());
      }),
    };
    this.watched.set(client, watched);
    await client.connect();
    watched.connected = true;
  }

  /** Resolves once the client's connection is closed, or was never opened. */
  end(client: Client): Promise<void> {
    const watched = this.watched.get(client);
    // Never asked to connect: pg's end() settles at once.
    if (watched === undefined) return client.end().catch(() => {});
    watched.ending ??= this.close(client, watched);
    return watched.ending;
  }

  private async close(client: Client, watched: Watched): Promise<void> {
    const cut = () => (client as unknown as ClientSocket).connection?.stream?.destroy();
    if (watched.connected) {
      const goodbye = client.end().catch(() => {});
      await within(GOODBYE_MS, Promise.race([goodbye, watched.ended]));
    }
    cut();
    await within(CLOSE_MS, watched.ended);
  }
}
