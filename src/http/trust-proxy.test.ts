import fc from "fast-check";
import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import { afterAll, describe, expect, it } from "vitest";
import { parseTrustProxy } from "../config.js";
import { trustProxyFunction } from "./app.js";

/**
 * The X-Forwarded-For rule against every TRUST_PROXY form, as properties: whatever a client
 * writes at the left of the header, the address the server uses is the one the model says
 * (the nearest hop that is not a trusted proxy), so a client never chooses it.
 *
 * The chain, nearest first: hop 0 is the socket's peer, hop 1 the rightmost
 * X-Forwarded-For entry, and so on to the leftmost, which the client may have written.
 */

const proxies = ["10.0.0.1", "10.0.0.2", "10.1.2.3", "fd00::1"];
const outsiders = ["203.0.113.7", "198.51.100.2", "2001:db8::5", "127.0.0.1", "192.0.2.44"];
const anyAddress = fc.constantFrom(...proxies, ...outsiders);

type Form = { text: string; expected: (chain: string[]) => string };

const inList = (list: string[], address: string) =>
  list.some((entry) =>
    entry === "10.0.0.0/8"
      ? address.startsWith("10.")
      : entry === "fd00::/8"
        ? address.startsWith("fd")
        : entry === address,
  );

const forms = fc.oneof(
  fc.constant<Form>({ text: "false", expected: (chain) => chain[0] as string }),
  fc.tuple(fc.integer({ min: 1, max: 3 }), fc.boolean()).map<Form>(([hops, spelled]) => ({
    // `true` is one hop.
    text: hops === 1 && spelled ? "true" : String(hops),
    // n trusted hops: the address n hops out, or the farthest there is.
    expected: (chain) => chain[Math.min(hops, chain.length - 1)] as string,
  })),
  fc
    .subarray(["10.0.0.0/8", "fd00::/8", "10.0.0.1", "127.0.0.1"], { minLength: 1 })
    .map<Form>((list) => ({
      text: list.join(","),
      // The nearest hop not in the list, or the farthest there is.
      expected: (chain) =>
        chain.find((address) => !inList(list, address)) ?? (chain.at(-1) as string),
    })),
);

const apps = new Map<string, FastifyInstance>();

async function appFor(text: string) {
  let found = apps.get(text);
  if (!found) {
    const problems: string[] = [];
    const trust = parseTrustProxy(text, problems);
    expect(problems).toEqual([]);
    const server: FastifyInstance = Fastify({ trustProxy: trustProxyFunction(trust) });
    server.get("/ip", (request: FastifyRequest) => ({ ip: request.ip }));
    await server.ready();
    apps.set(text, server);
    found = server;
  }
  return found;
}

afterAll(async () => {
  await Promise.all([...apps.values()].map((server) => server.close()));
});

describe("the X-Forwarded-For rule", () => {
  it("picks the nearest untrusted hop for every TRUST_PROXY form, whatever the client wrote", async () => {
    await fc.assert(
      fc.asyncProperty(
        forms,
        anyAddress,
        fc.array(anyAddress, { minLength: 0, maxLength: 5 }),
        async (form, peer, forwarded) => {
          const server = await appFor(form.text);
          const headers: Record<string, string> =
            forwarded.length > 0 ? { "x-forwarded-for": forwarded.join(", ") } : {};
          const res = await server.inject({
            method: "GET",
            url: "/ip",
            remoteAddress: peer,
            headers,
          });
          const chain = [peer, ...[...forwarded].reverse()];
          expect((res.json() as { ip: string }).ip).toBe(form.expected(chain));
        },
      ),
      { numRuns: 400 },
    );
  });

  it("with no proxy trusted, X-Forwarded-For changes nothing", async () => {
    const server = await appFor("false");
    const res = await server.inject({
      method: "GET",
      url: "/ip",
      remoteAddress: "198.51.100.2",
      headers: { "x-forwarded-for": "127.0.0.1" },
    });
    expect((res.json() as { ip: string }).ip).toBe("198.51.100.2");
  });
});
