import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { pollUntil } from "../test-support/poll.js";
import { signatureValid } from "../test-support/webhook-receiver.js";
import { createWebhookSender, DELIVERY_TIMEOUT_MS, isPublicAddress } from "./webhook-sender.js";

describe("isPublicAddress", () => {
  it("refuses loopback, private, link-local and their IPv6 and mapped forms", () => {
    for (const address of [
      "127.0.0.1",
      "10.1.2.3",
      "172.16.0.1",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "::1",
      "::",
      "fe80::1",
      "fd00::1",
      "::ffff:127.0.0.1",
      "::ffff:10.0.0.1",
      // IPv4 inside IPv6 that a gateway may deliver to a private address.
      "::a00:1",
      "64:ff9b::a00:1",
      "2002:a00:1::1",
      "2001:0:4136:e378::1",
    ]) {
      expect(isPublicAddress(address), address).toBe(false);
    }
    for (const address of ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"]) {
      expect(isPublicAddress(address), address).toBe(true);
    }
  });
});

describe("the webhook sender", () => {
  it("signs as the Standard Webhooks library verifies, and as an independent HMAC checks", async () => {
    const secret = `whsec_${Buffer.from("0123456789abcdef0123456789abcdef").toString("base64")}`;
    let seen: { headers: Record<string, string>; body: string } | undefined;
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => {
        body += c.toString();
      });
      req.on("end", () => {
        seen = { headers: req.headers as Record<string, string>, body };
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const payload = JSON.stringify({ type: "token.created", timestamp: "x", data: {} });
      const result = await createWebhookSender({ allowPrivate: true }).send(
        { id: "msg_1", url: `http://127.0.0.1:${port}/`, secret, payload },
        Date.now(),
      );
      expect(result).toEqual({ status: 204, error: null });
      expect(seen?.body).toBe(payload);
      const headers = seen?.headers ?? {};
      expect(headers["webhook-id"]).toBe("msg_1");
      expect(new Webhook(secret).verify(payload, headers)).toEqual(JSON.parse(payload));
      expect(
        signatureValid(
          secret,
          {
            id: headers["webhook-id"] ?? "",
            timestamp: headers["webhook-timestamp"] ?? "",
            signature: headers["webhook-signature"] ?? "",
          },
          payload,
        ),
      ).toBe(true);
    } finally {
      server.close();
    }
  });

  it("refuses a loopback target without WEBHOOK_ALLOW_PRIVATE, by name and by literal", async () => {
    const sender = createWebhookSender({ allowPrivate: false });
    for (const url of ["http://127.0.0.1:9/", "http://localhost:9/", "http://[::1]:9/"]) {
      const result = await sender.send({ id: "m", url, secret: "whsec_AAAA", payload: "{}" }, 0);
      expect(result.status, url).toBeNull();
      expect(result.error, url).toContain("refused");
    }
  });

  it("gives up on a receiver that hangs after 10 s, and closes its one connection", async () => {
    let connections = 0;
    let open = 0;
    const server = createServer(() => {
      // Never answers.
    });
    server.on("connection", (socket) => {
      connections++;
      open++;
      socket.on("close", () => {
        open--;
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const started = Date.now();
      const result = await createWebhookSender({ allowPrivate: true }).send(
        { id: "m", url: `http://127.0.0.1:${port}/`, secret: "whsec_AAAA", payload: "{}" },
        Date.now(),
      );
      const elapsed = Date.now() - started;
      expect(result).toEqual({ status: null, error: "no answer in 10 s" });
      expect(elapsed).toBeGreaterThanOrEqual(DELIVERY_TIMEOUT_MS - 50);
      expect(elapsed).toBeLessThan(DELIVERY_TIMEOUT_MS + 2000);
      expect(connections).toBe(1);
      await pollUntil("the sender to close its connection", () => open === 0);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  }, 20_000);
});
