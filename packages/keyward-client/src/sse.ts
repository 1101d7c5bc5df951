// A parser of `text/event-stream` (the WHATWG HTML "server-sent events" rules), fed with
// decoded text as it arrives, in chunks cut anywhere.

export interface ServerSentEvent {
  /** `event:` (`message` when the server sent none). */
  event: string;
  data: string;
  /** The last `id:` seen so far (what a reconnection sends as `Last-Event-ID`). */
  id: string;
}

/**
 * The longest line, and the most data in one event, the parser holds. Keyward's events are
 * a few hundred bytes; a stream past this is not Keyward's (a broken proxy, a hostile
 * server), and holding it would grow without bound.
 */
export const MAX_EVENT_STREAM_LINE = 1 << 20;

export class EventStreamParser {
  private buffer = "";
  /** How much of `buffer` has been looked at for a line end already. */
  private scanned = 0;
  private dataLength = 0;
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
    // Only what came since the last push is looked at: a long line arriving in many chunks
    // is scanned once, not again with every chunk.
    for (let i = this.scanned; i < this.buffer.length; i++) {
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
    this.scanned = this.buffer.length;
    if (this.buffer.length > MAX_EVENT_STREAM_LINE) {
      throw new RangeError(`An event-stream line longer than ${MAX_EVENT_STREAM_LINE} characters.`);
    }
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
        this.dataLength += value.length + 1;
        if (this.dataLength > MAX_EVENT_STREAM_LINE) {
          throw new RangeError(
            `An event with more than ${MAX_EVENT_STREAM_LINE} characters of data.`,
          );
        }
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
    this.dataLength = 0;
    // The rules drop an event without data; a named one (e.g. `event: reset`) is kept, so
    // a server that sends a bare `reset` is still obeyed.
    if (!hadData && name === "") return;
    this.onEvent({ event: name || "message", data, id: this.lastEventId });
  }
}
