import { type ClientRequest, type IncomingMessage, request } from "node:http";
import { pollUntil } from "./poll.js";

/** One server-sent event as a reader sees it; `comments` counts comment lines before it. */
export interface SseMessage {
  id: string | undefined;
  event: string | undefined;
  data: string | undefined;
  /** performance.now() when its last line arrived. */
  receivedAt: number;
}

/**
 * A reader of a `text/event-stream` over real HTTP, keeping every block (events, bare
 * `id:` lines) and comment as it arrives, for tests and measurements.
 */
export class SseReader {
  readonly messages: SseMessage[] = [];
  comments = 0;
  ended = false;
  body = "";
  private pending = "";

  private constructor(
    readonly response: IncomingMessage,
    private readonly req: ClientRequest,
  ) {
    response.setEncoding("utf8");
    response.on("data", (chunk: string) => this.receive(chunk));
    const done = () => {
      this.ended = true;
    };
    response.on("end", done);
    response.on("close", done);
    response.on("error", done);
  }

  /** Opens `url` and resolves once the answer's head has arrived. */
  static open(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
    return new Promise((resolve, reject) => {
      const req = request(url, { headers: { accept: "text/event-stream", ...headers } });
      req.on("response", (response) => resolve(new SseReader(response, req)));
      req.on("error", reject);
      req.end();
    });
  }

  get status(): number {
    return this.response.statusCode ?? 0;
  }

  /** Events with a type (dispatched ones), in order. */
  get events(): SseMessage[] {
    return this.messages.filter((m) => m.event !== undefined);
  }

  /** The id a browser's EventSource would send on reconnecting. */
  get lastId(): string | undefined {
    let id: string | undefined;
    for (const m of this.messages) if (m.id !== undefined) id = m.id;
    return id;
  }

  /** Waits until `probe` holds for what has arrived. */
  waitFor<T>(
    what: string,
    probe: (reader: SseReader) => T | undefined | false,
    timeoutMs = 5000,
  ): Promise<T> {
    return pollUntil(what, () => probe(this), { timeoutMs, intervalMs: 2 });
  }

  /** Waits for `count` dispatched events in all. */
  waitForEvents(count: number, timeoutMs = 5000): Promise<SseMessage[]> {
    return this.waitFor(
      `${count} events (have ${this.events.length})`,
      (r) => r.events.length >= count && r.events,
      timeoutMs,
    );
  }

  close(): void {
    this.req.destroy();
    this.response.destroy();
  }

  private receive(chunk: string): void {
    this.body += chunk;
    this.pending += chunk;
    for (;;) {
      const end = this.pending.indexOf("\n\n");
      if (end === -1) return;
      const block = this.pending.slice(0, end);
      this.pending = this.pending.slice(end + 2);
      const message: SseMessage = {
        id: undefined,
        event: undefined,
        data: undefined,
        receivedAt: performance.now(),
      };
      let fields = 0;
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) {
          this.comments++;
          continue;
        }
        const colon = line.indexOf(":");
        const name = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (name === "id") message.id = value;
        else if (name === "event") message.event = value;
        else if (name === "data")
          message.data = message.data === undefined ? value : `${message.data}\n${value}`;
        else continue;
        fields++;
      }
      if (fields > 0) this.messages.push(message);
    }
  }
}
