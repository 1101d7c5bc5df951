// A parser of `text/event-stream` (the WHATWG HTML "server-sent events" rules), fed with
// decoded text as it arrives, in chunks cut anywhere.

export interface ServerSentEvent {
  /** `event:` (`message` when the server sent none). */
  event: string;
  data: string;
  /** The last `id:` seen so far (what a reconnection sends as `Last-Event-ID`). */
  id: string;
}

export class EventStreamParser {
  private buffer = "";
  private eventName = "";
  private data: string[] = [];
  private sawCarriageReturn = false;
  /** The stream's last event id, kept across events as the rules say. */
  lastEventId = "";
  /** The server's `retry:` advice in milliseconds, when it gave one. */
  retryMs: number | undefined;

  constructor(private readonly onEvent: (event: ServerSentEvent) => void) {}

  push(text: string): void {
    let chunk = text;
    // A CRLF cut between two chunks: the LF belongs to the line the CR ended.
    if (this.sawCarriageReturn && chunk.startsWith("\n")) chunk = chunk.slice(1);
    this.sawCarriageReturn = false;
    this.buffer += chunk;
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(this.buffer.slice(start, i));
      if (c === 13) {
        if (i + 1 === this.buffer.length) this.sawCarriageReturn = true;
        else if (this.buffer.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
  }

  private line(line: string): void {
    if (line === "") {
      this.dispatch();
      return;
    }
    if (line.startsWith(":")) return; // a comment: the keep-alive
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.eventName = value;
        break;
      case "data":
        this.data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.lastEventId = value;
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) this.retryMs = Number(value);
        break;
    }
  }

  private dispatch(): void {
    const name = this.eventName;
    const data = this.data.join("\n");
    const hadData = this.data.length > 0;
    this.eventName = "";
    this.data = [];
    // The rules drop an event without data; a named one (e.g. `event: reset`) is kept, so
    // a server that sends a bare `reset` is still obeyed.
    if (!hadData && name === "") return;
    this.onEvent({ event: name || "message", data, id: this.lastEventId });
  }
}
