import { createHash } from "node:crypto";
import { isIP } from "node:net";
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { verifiedClientAddress } from "../../../src/http/client-address.js";
import type { KeywardClient, VerifyOptions } from "../src/client.js";
import { clientAddressToSend } from "../src/client-address.js";
import { KeywardUnavailableError } from "../src/errors.js";
import { type BearerRequest, guard, type KeywardGuardOptions } from "../src/protect.js";
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
/** A request with a well-formed token, whose client address is what `clientAddress` returns. */
function bearerRequest(clientAddress: () => string | undefined): BearerRequest {
  return {
    authorization: `Bearer ${makeToken()}`,
    authorizationCount: 1,
    url: "/api",
    clientAddress,
  };
}

it.each([
  [2.5, "3"],
  [1e30, "3600"],
  [Number.POSITIVE_INFINITY, "3600"],
  [-1, "5"],
  [Number.NaN, "5"],
  [undefined, "5"],
])("the adapters send a retryAfterSeconds of %s as Retry-After: %s", async (seconds, header) => {
  const unavailable = new KeywardUnavailableError("down", { retryAfterSeconds: seconds });
  const client = {
    cachedVerification: () => undefined,
    verify: () => Promise.reject(unavailable),
  } as unknown as KeywardClient;
  const result = await guard(
    bearerRequest(() => undefined),
    { client },
  );
  expect(result).toMatchObject({ ok: false, refusal: { status: 503 } });
  expect(!result.ok && result.refusal.headers["retry-after"]).toBe(header);
});

describe("clientAddressToSend", () => {
  /** Text made of what addresses are made of, and a little else. */
  const addressLike = fc.string({
    unit: fc.constantFrom(..."0123456789abcdefABCDEF:.:.::%%[]_-ghxz/ "),
    maxLength: 50,
  });
  /** Real addresses, some with a character changed, added or taken out. */
  const nearAddresses = fc
    .tuple(
      fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended()),
      fc.nat(60),
      fc.constantFrom("", ":", ".", "0", "f", "g", "::", "%eth0", "%", "1."),
      fc.nat(2),
    )
    .map(([address, at, piece, cut]) => address.slice(0, at) + piece + address.slice(at + cut));
  /** Addresses with a zone, good or bad. */
  const zoned = fc
    .tuple(
      fc.oneof(fc.ipV6(), fc.ipV4()),
      fc.string({ unit: fc.constantFrom(..."eth0_.-:%"), maxLength: 60 }),
    )
    .map(([address, zone]) => `${address}%${zone}`);
  const candidates = fc.oneof(addressLike, nearAddresses, zoned, fc.ipV4(), fc.ipV6());

  it("accepts what node:net's isIP does, and a zone only as Keyward takes it", () => {
    fc.assert(
      fc.property(candidates, (candidate) => {
        const text = candidate.trim();
        const zoneAt = text.indexOf("%");
        if (zoneAt === -1) {
          expect(clientAddressToSend(candidate) !== undefined, text).toBe(isIP(text) !== 0);
          return;
        }
        // isIP takes a zone of [0-9a-zA-Z.:-] on an IPv6 address; Keyward's is [\w.-],
        // up to 64 characters in all.
        const zone = text.slice(zoneAt);
        const nodeZone = zone.replaceAll("_", "u");
        const expected =
          text.length <= 64 && !zone.includes(":") && isIP(text.slice(0, zoneAt) + nodeZone) === 6;
        expect(clientAddressToSend(candidate) !== undefined, text).toBe(expected);
      }),
      { numRuns: 20_000 },
    );
  });

  it("sends nothing Keyward would refuse", () => {
    fc.assert(
      fc.property(candidates, (text) => {
        const sent = clientAddressToSend(text);
        if (sent === undefined) return;
        expect(sent.length).toBeLessThanOrEqual(64);
        expect(() => verifiedClientAddress(sent, "127.0.0.1"), sent).not.toThrow();
      }),
      { numRuns: 20_000 },
    );
  });

  it.each([
    ["198.51.100.7", "198.51.100.7"],
    [" 198.51.100.7\t", "198.51.100.7"],
    ["2001:db8::1", "2001:db8::1"],
    ["::", "::"],
    ["::ffff:192.0.2.1", "::ffff:192.0.2.1"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7::"],
    ["fe80::1%eth0", "fe80::1%eth0"],
    ["fe80::1%br_lan.10", "fe80::1%br_lan.10"],
    ["", undefined],
    ["198.51.100.7:8080", undefined],
    ["198.51.100.07", undefined],
    ["198.51.100.7%eth0", undefined],
    ["1:2:3:4:5:6:7:8::", undefined],
    ["1::2::3", undefined],
    ["[2001:db8::1]", undefined],
    ["fe80::1%", undefined],
    ["fe80::1%eth0:1", undefined],
    ["fe80::1%eth0%eth1", undefined],
    [`fe80::1%${"e".repeat(56)}`, `fe80::1%${"e".repeat(56)}`],
    [`fe80::1%${"e".repeat(57)}`, undefined],
  ])("sends %j as %j", (given, sent) => {
    expect(clientAddressToSend(given)).toBe(sent);
  });
});

describe("guard and the client's address", () => {
  /** A client whose every verify asks Keyward and finds the token valid; records the options. */
  function recordingClient(): { client: KeywardClient; asked: VerifyOptions[] } {
    const asked: VerifyOptions[] = [];
    const client = {
      cachedVerification: () => undefined,
      verify: async (_token: string, options: VerifyOptions) => {
        asked.push(options);
        return { valid: true, scopes: [] };
      },
    } as unknown as KeywardClient;
    return { client, asked };
  }

  it("sends the address without its surrounding whitespace, and none for undefined", async () => {
    const { client, asked } = recordingClient();
    await guard(
      bearerRequest(() => " 198.51.100.7 "),
      { client },
    );
    await guard(
      bearerRequest(() => undefined),
      { client },
    );
    expect(asked).toEqual([{ clientAddress: "198.51.100.7" }, {}]);
  });

  it("refuses, without a promise or a call, what is not an address; reports it once a minute per guard", () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2026-12-05T12:00:00Z"));
    const { client, asked } = recordingClient();
    const reported: unknown[] = [];
    const options: KeywardGuardOptions = { client, onError: (error) => reported.push(error) };
    for (const given of ["", "1.2.3.4,", null, 42, ["198.51.100.7"]]) {
      const result = guard(
        bearerRequest(() => given as string),
        options,
      );
      expect(result).toMatchObject({ ok: false, refusal: { status: 401 } });
    }
    expect(asked).toEqual([]);
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatchObject({ code: "invalid_client_address" });
    expect((reported[0] as Error).message).toContain('""');
    // Another guard (another adapter, another route) reports its own first.
    expect(
      guard(
        bearerRequest(() => "x"),
        { ...options },
      ),
    ).toMatchObject({ ok: false });
    expect(reported).toHaveLength(2);
    // A minute later the first guard reports again, with how many came in between.
    vi.setSystemTime(new Date("2026-12-05T12:00:59Z"));
    expect(
      guard(
        bearerRequest(() => "y"),
        options,
      ),
    ).toMatchObject({ ok: false });
    expect(reported).toHaveLength(2);
    vi.setSystemTime(new Date("2026-12-05T12:01:00Z"));
    expect(
      guard(
        bearerRequest(() => "z"),
        options,
      ),
    ).toMatchObject({ ok: false });
    expect(reported).toHaveLength(3);
    expect((reported[2] as Error).message).toContain("(and 5 more since the last report)");
    vi.useRealTimers();
  });
});
