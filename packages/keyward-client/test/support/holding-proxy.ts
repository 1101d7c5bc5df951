// An HTTP proxy in front of a real Keyward that can hold verify answers back: Keyward
// answers at once, and the client gets the answer only when the test releases it. A slow
// network, on the test's signal rather than a timer. Everything else (the revocation
// stream included) passes through as it comes.

import {
  type ClientRequest,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
} from "node:http";
import type { AddressInfo } from "node:net";

const VERIFY = "/api/v1/service/verify";

export interface HoldingProxy {
  url: string;
  /** From now on, keeps each verify answer Keyward gives until `release`. */
  hold(): void;
  /** Sends every held answer, oldest first, and stops holding. */
  release(): void;
  /** Verify answers held now. */
  held(): number;
  /** Verify questions that went through to Keyward. */
  verifyCalls(): number;
  close(): Promise<void>;
}

export async function startHoldingProxy(target: string): Promise<HoldingProxy> {
  const upstream = new URL(target);
  const upstreamRequests = new Set<ClientRequest>();
  let holding = false;
  let verifyCalls = 0;
  let held: (() => void)[] = [];

  const server = createServer((req, res) => {
    const isVerify = req.method === "POST" && req.url === VERIFY;
    if (isVerify) verifyCalls++;
    // Keyward answers only for its own host and port (421 otherwise).
    const headers: IncomingHttpHeaders = { ...req.headers, host: upstream.host };
    const forwarded = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
      (answer) => {
        if (!isVerify || !holding) {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        answer.on("data", (chunk: Buffer) => chunks.push(chunk));
        answer.on("end", () => {
          const send = () => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            res.end(Buffer.concat(chunks));
          };
          if (holding) held.push(send);
          else send();
        });
      },
    );
    upstreamRequests.add(forwarded);
    forwarded.on("close", () => upstreamRequests.delete(forwarded));
    forwarded.on("error", () => res.destroy());
    req.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hold() {
      holding = true;
    },
    release() {
      holding = false;
      const waiting = held;
      held = [];
      for (const send of waiting) send();
    },
    held: () => held.length,
    verifyCalls: () => verifyCalls,
    async close() {
      for (const forwarded of upstreamRequests) forwarded.destroy();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
