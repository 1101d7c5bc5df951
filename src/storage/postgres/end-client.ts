import type { Client } from "pg";

/** Where pg's Client keeps its socket; not in its types. */
interface ClientSocket {
  connection?: { stream?: { destroy(): void } };
}

/** Whether `connect()` was called on a client, and whether it finished. */
export type ClientState = "idle" | "connecting" | "connected";

/** How long a connected client's goodbye may take before its socket is cut. */
const GOODBYE_MS = 1000;

/**
 * Ends a client's connection and resolves once it is closed, soon whatever the network
 * does. pg's `end()` sends a goodbye and waits for the server's side of the close, which
 * a network that carries nothing never brings; mid-connect it also leaves the connect's
 * promise unsettled for good. So a client still connecting has its socket cut instead (its
 * connect then fails), and a connected one is cut if its goodbye takes GOODBYE_MS.
 */
export async function endClient(client: Client, state: ClientState): Promise<void> {
  const cut = () => (client as unknown as ClientSocket).connection?.stream?.destroy();
  if (state === "connecting") {
    const closed = new Promise<void>((resolve) => client.once("end", () => resolve()));
    cut();
    return closed;
  }
  const ended = client.end().catch(() => {});
  if (state === "idle") return ended;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), GOODBYE_MS);
    timer.unref();
  });
  if ((await Promise.race([ended, late])) === "late") {
    cut();
    await ended;
  }
  clearTimeout(timer);
}
