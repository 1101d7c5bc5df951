import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedDelivery {
  id: string;
  timestamp: number;
  type: string;
  data: Record<string, unknown>;
  body: string;
  /** Date.now() when it arrived. */
  receivedAt: number;
}

/**
 * Checks a Standard Webhooks signature with node:crypto alone, independently of the
 * library Keyward signs with: HMAC-SHA256 over `id.timestamp.body`, keyed with the
 * base64 after `whsec_`, compared with each `v1,` signature in the header.
 */
export function signatureValid(
  secret: string,
  headers: { id: string; timestamp: string; signature: string },
  body: string,
): boolean {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = createHmac("sha256", key)
    .update(`${headers.id}.${headers.timestamp}.${body}`)
    .digest();
  return headers.signature.split(" ").some((part) => {
    const [version, value] = part.split(",");
    if (version !== "v1" || value === undefined) return false;
    const given = Buffer.from(value, "base64");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

/**
 * A webhook receiver on 127.0.0.1 for tests: it verifies every delivery's signature (a
 * delivery that fails the check fails the test through `badSignatures`), records what
 * it accepted, and answers with what `respond` says (200 by default).
 */
export class WebhookReceiver {
  readonly received: ReceivedDelivery[] = [];
  /** Every attempt, in order, with the status this receiver answered. */
  readonly attempts: Array<{ id: string; status: number }> = [];
  badSignatures = 0;
  secret = "";
  respond: (attempt: { id: string; type: string }) => number | "hang" = () => 200;
  private server: Server;
  private hanging = new Set<import("node:http").ServerResponse>();

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const id = String(req.headers["webhook-id"] ?? "");
        const timestamp = String(req.headers["webhook-timestamp"] ?? "");
        const signature = String(req.headers["webhook-signature"] ?? "");
        if (!signatureValid(this.secret, { id, timestamp, signature }, body)) {
          this.badSignatures++;
          res.writeHead(400).end();
          return;
        }
        const parsed = JSON.parse(body) as { type: string; data: Record<string, unknown> };
        const answer = this.respond({ id, type: parsed.type });
        if (answer === "hang") {
          this.hanging.add(res);
          return;
        }
        this.attempts.push({ id, status: answer });
        if (answer >= 200 && answer < 300) {
          this.received.push({
            id,
            timestamp: Number(timestamp),
            type: parsed.type,
            data: parsed.data,
            body,
            receivedAt: Date.now(),
          });
        }
        res.writeHead(answer).end();
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  ofType(type: string): ReceivedDelivery[] {
    return this.received.filter((d) => d.type === type);
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
