// A stand-in for Keyward's service API, speaking the contract over real HTTP, for the
// client's unit tests of caching, the stream and reconnection. The integration tests
// (test/client-*.test.ts at the repository root) run the same client against the real server.

import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { BASE62_ALPHABET, tokenChecksum } from "../../src/token-format.js";

/** A well-formed token (right length, base62, valid checksum) with this prefix. */
export function makeToken(prefix = "kw"): string {
  const bytes = randomBytes(30);
  let random = "";
  for (const b of bytes) random += BASE62_ALPHABET[b % 62];
  const body = `${prefix}_${random}`;
  return body + tokenChecksum(body);
}

export interface StandInToken {
  applicationId: string;
  userId: string;
  tokenId: string;
  scopes: string[];
  expiresAt: string | null;
  externalId: string | null;
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: unknown;
}

export interface StandIn {
  url: string;
  serviceKey: string;
  /** Valid tokens and the answer verify gives for each. */
  tokens: Map<string, StandInToken>;
  requests: RecordedRequest[];
  verifyCalls(): number;
  /** The `Last-Event-ID` of each stream connection, in order ("" when absent). */
  streamConnections: string[];
  openStreams(): number;
  /** Sends an event to every open stream (and keeps it for replay). */
  send(event: string, data: unknown): void;
  /** Sends raw text to every open stream. */
  sendRaw(text: string): void;
  /** Ends every open stream from the server side. */
  cutStreams(): void;
  /** Forgets the replay log, so a reconnection gets `reset`. */
  forgetHistory(): void;
  /** Makes verify answer with this status (and body), or hang, or behave (null). */
  verifyFault: { status: number; body?: unknown; headers?: Record<string, string> } | "hang" | null;
  /** Delay before verify answers, in ms. */
  verifyDelayMs: number;
  /** From now on, keeps each verify answer (worked out as the question arrives) until `releaseVerify`. */
  holdVerify(): void;
  /** Sends every held verify answer, oldest first, and stops holding. */
  releaseVerify(): void;
  /** Sends the oldest held verify answer only, and goes on holding. */
  releaseOldestVerify(): void;
  /** Verify answers held now. */
  heldVerifies(): number;
  /** Refuses the stream with this status (null: accept). */
  streamFault: number | null;
  /** Answers for the other service routes, by "METHOD path". */
  routes: Map<string, { status: number; body?: unknown }>;
  close(): Promise<void>;
}

export function validAnswer(tokenId: string, scopes: string[] = []): StandInToken {
  return {
    applicationId: "app_AAAAAAAAAAAAAAAAAAAA",
    userId: "usr_AAAAAAAAAAAAAAAAAAAA",
    tokenId,
    scopes,
    expiresAt: null,
    externalId: "host-user-1",
  };
}

const problem = (status: number, code: string, detail = code) => ({
  type: `urn:keyward:problem:${code}`,
  title: code,
  status,
  detail,
  code,
});

export async function startStandIn(): Promise<StandIn> {
  const serviceKey = makeToken("kwsk");
  const streams = new Set<ServerResponse>();
  const history: { id: string; text: string }[] = [];
  let nextId = 1;
  let verifyCalls = 0;
  let holdingVerify = false;
  let heldVerifies: (() => void)[] = [];

  const readBody = async (req: IncomingMessage): Promise<unknown> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    return text ? JSON.parse(text) : undefined;
  };
  const json = (res: ServerResponse, status: number, body?: unknown, headers = {}) => {
    const type = status >= 400 ? "application/problem+json" : "application/json";
    res.writeHead(status, { "content-type": type, ...headers });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  };

  const standIn: StandIn = {
    url: "",
    serviceKey,
    tokens: new Map(),
    requests: [],
    verifyCalls: () => verifyCalls,
    streamConnections: [],
    openStreams: () => streams.size,
    send(event, data) {
      const id = String(nextId++);
      const text = `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
      history.push({ id, text });
      for (const stream of streams) stream.write(text);
    },
    sendRaw(text) {
      for (const stream of streams) stream.write(text);
    },
    cutStreams() {
      for (const stream of streams) stream.end();
      streams.clear();
    },
    forgetHistory() {
      history.length = 0;
    },
    verifyFault: null,
    verifyDelayMs: 0,
    holdVerify() {
      holdingVerify = true;
    },
    releaseVerify() {
      holdingVerify = false;
      const held = heldVerifies;
      heldVerifies = [];
      for (const send of held) send();
    },
    releaseOldestVerify() {
      heldVerifies.shift()?.();
    },
    heldVerifies: () => heldVerifies.length,
    streamFault: null,
    routes: new Map(),
    close: async () => {
      for (const stream of streams) stream.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };

  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    const url = req.url ?? "";
    standIn.requests.push({ method: req.method ?? "", url, headers: req.headers, body });
    if (req.headers.authorization !== `Bearer ${serviceKey}`) {
      return json(res, 401, problem(401, "invalid_token"), {
        "www-authenticate": 'Bearer realm="api", error="invalid_token"',
      });
    }
    if (req.method === "POST" && url === "/api/v1/service/verify") {
      verifyCalls++;
      const fault = standIn.verifyFault;
      if (fault === "hang") return; // never answers
      if (standIn.verifyDelayMs > 0) {
        await new Promise((resolve) => setTimeout(resolve, standIn.verifyDelayMs));
      }
      if (fault) return json(res, fault.status, fault.body, fault.headers);
      const token = (body as { token: string }).token;
      const answer = standIn.tokens.get(token);
      const send = () =>
        json(
          res,
          200,
          answer ? { valid: true, ...answer } : { valid: false, code: "invalid_token" },
        );
      if (holdingVerify) heldVerifies.push(send);
      else send();
      return;
    }
    if (req.method === "GET" && url === "/api/v1/service/events") {
      const lastEventId = String(req.headers["last-event-id"] ?? "");
      standIn.streamConnections.push(lastEventId);
      if (standIn.streamFault)
        return json(res, standIn.streamFault, problem(standIn.streamFault, "x"));
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });
      res.write(": connected\n\n");
      if (lastEventId) {
        const at = history.findIndex((e) => e.id === lastEventId);
        if (at === -1) res.write("event: reset\ndata: {}\n\n");
        else for (const e of history.slice(at + 1)) res.write(e.text);
      }
      streams.add(res);
      res.on("close", () => streams.delete(res));
      return;
    }
    const route = standIn.routes.get(`${req.method} ${url}`);
    if (route) return json(res, route.status, route.body);
    return json(res, 404, problem(404, "not_found"));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  standIn.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return standIn;
}
