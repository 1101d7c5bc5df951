import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { KeywardClient } from "../src/client.js";
import { KeywardUnavailableError } from "../src/errors.js";
import { guard } from "../src/protect.js";
import { sha256Hex, sha256HexPortable } from "../src/sha256.js";
import { EventStreamParser, MAX_EVENT_STREAM_LINE, type ServerSentEvent } from "../src/sse.js";
import { makeToken } from "./support/stand-in.js";

describe.each([
  ["sha256Hex (Node's crypto.hash where it exists)", sha256Hex],
  ["sha256HexPortable (plain JavaScript, other runtimes)", sha256HexPortable],
])("%s", (_name, sha256Hex) => {
  it("matches node:crypto on known and random text", () => {
    expect(sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 300 }), (text) => {
        expect(sha256Hex(text)).toBe(createHash("sha256").update(text, "utf8").digest("hex"));
      }),
      { numRuns: 500 },
    );
    for (const length of [55, 56, 63, 64, 65, 119, 120]) {
      const text = "x".repeat(length);
      expect(sha256Hex(text)).toBe(createHash("sha256").update(text).digest("hex"));
    }
  });
});

function parse(chunks: string[]): { events: ServerSentEvent[]; parser: EventStreamParser } {
  const events: ServerSentEvent[] = [];
  const parser = new EventStreamParser((e) => events.push(e));
  for (const chunk of chunks) parser.push(chunk);
  return { events, parser };
}

describe("EventStreamParser", () => {
  const stream =
    ': keep-alive\n\nid: 1\nevent: token.revoked\ndata: {"tokenId":"tok_1"}\n\n' +
    "id: 2\r\nevent: secret.ended\r\ndata: a\r\ndata: b\r\n\r\n" +
    "event: reset\n\nretry: 1500\ndata:no-space\n\n";

  it("reads events, ids, multi-line data, comments, CRLF and retry", () => {
    const { events, parser } = parse([stream]);
    expect(events).toEqual([
      { event: "token.revoked", data: '{"tokenId":"tok_1"}', id: "1" },
      { event: "secret.ended", data: "a\nb", id: "2" },
      { event: "reset", data: "", id: "2" },
      { event: "message", data: "no-space", id: "2" },
    ]);
    expect(parser.retryMs).toBe(1500);
  });

  it("gives the same events however the stream is cut into chunks", () => {
    const whole = parse([stream]).events;
    fc.assert(
      fc.property(fc.array(fc.nat(stream.length), { maxLength: 12 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const chunks: string[] = [];
        let last = 0;
        for (const p of points) {
          chunks.push(stream.slice(last, p));
          last = p;
        }
        chunks.push(stream.slice(last));
        expect(parse(chunks).events).toEqual(whole);
      }),
    );
  });

  it("refuses to hold a line or an event's data past its bound (a stream that is not Keyward's)", () => {
    const endless = new EventStreamParser(() => {});
    const piece = "x".repeat(64 * 1024);
    expect(() => {
      for (let i = 0; i < 20; i++) endless.push(piece);
    }).toThrow(RangeError);
    const manyLines = new EventStreamParser(() => {});
    const dataLine = `data: ${"y".repeat(1000)}\n`;
    expect(() => {
      for (let i = 0; i < 2000; i++) manyLines.push(dataLine);
    }).toThrow(RangeError);
    // Up to the bound, a long line is read whole, however it was cut.
    const events: ServerSentEvent[] = [];
    const long = new EventStreamParser((e) => events.push(e));
    const data = "z".repeat(MAX_EVENT_STREAM_LINE - 100);
    long.push("data: ");
    for (let i = 0; i < data.length; i += 4096) long.push(data.slice(i, i + 4096));
    long.push("\n\n");
    expect(events).toEqual([{ event: "message", data, id: "" }]);
  });
});

// The client's own errors carry whole seconds up to an hour (client.test.ts); the header
// holds that for any error, such as one a wrapper of the client throws.
it.each([
  [2.5, "3"],
  [1e30, "3600"],
  [Number.POSITIVE_INFINITY, "3600"],
  [-1, "5"],
  [Number.NaN, "5"],
  [undefined, "5"],
])("the adapters send a retryAfterSeconds of %s as Retry-After: %s", async (seconds, header) => {
  const unavailable = new KeywardUnavailableError("down", { retryAfterSeconds: seconds });
  const client = { verify: () => Promise.reject(unavailable) } as unknown as KeywardClient;
  const result = await guard(
    {
      authorization: `Bearer ${makeToken()}`,
      authorizationCount: 1,
      url: "/api",
      clientAddress: undefined,
    },
    { client },
  );
  expect(result).toMatchObject({ ok: false, refusal: { status: 503 } });
  expect(!result.ok && result.refusal.headers["retry-after"]).toBe(header);
});
