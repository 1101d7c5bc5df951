import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { BlockList, isIP } from "node:net";
import { Webhook } from "standardwebhooks";
import type { WebhookSender } from "../services/webhook-dispatcher.js";

/** An attempt's limit, from connecting to the last byte of the answer. */
export const DELIVERY_TIMEOUT_MS = 10_000;

// Where a webhook may not point: this host, the private networks, link-local (cloud
// metadata at 169.254.169.254), and the like. Checked on the address actually dialled.
const refused = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const) {
  refused.addSubnet(net, prefix, "ipv4");
}
for (const [net, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
  // Prefixes that carry an IPv4 address a gateway may turn into a private one: IPv4-
  // compatible (::/96), NAT64 (64:ff9b::/96, 64:ff9b:1::/48), 6to4 (2002::/16), Teredo
  // (2001::/32). Refused whole: no public receiver needs them.
  ["::", 96],
  ["64:ff9b::", 96],
  ["64:ff9b:1::", 48],
  ["2002::", 16],
  ["2001::", 32],
] as const) {
  refused.addSubnet(net, prefix, "ipv6");
}

/** Whether a webhook may be delivered to `address` (an IPv4 or IPv6 literal). */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 6) {
    // IPv4-mapped (::ffff:a.b.c.d) is the IPv4 address underneath.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped?.[1]) return isPublicAddress(mapped[1]);
    return !refused.check(address, "ipv6");
  }
  return !refused.check(address, "ipv4");
}

class RefusedAddressError extends Error {}

/**
 * Signs with the maintained `standardwebhooks` library and posts with node:http(s). The
 * name is resolved by the connection itself, through a lookup that refuses private
 * addresses: what is checked is what is dialled, so a name that resolves to a public
 * address when registered and a private one later (DNS rebinding) is still refused.
 */
export function createWebhookSender(options: { allowPrivate: boolean }): WebhookSender {
  const guardedLookup = (
    hostname: string,
    lookupOptions: object,
    callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void,
  ) => {
    dnsLookup(hostname, { ...lookupOptions, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const list = addresses as LookupAddress[];
      const allowed = options.allowPrivate ? list : list.filter((a) => isPublicAddress(a.address));
      if (allowed.length === 0) {
        return callback(
          new RefusedAddressError("refused: the address is loopback, private or link-local"),
          [],
        );
      }
      const wantsAll = (lookupOptions as { all?: boolean }).all === true;
      if (wantsAll) return callback(null, allowed);
      const first = allowed[0] as LookupAddress;
      return callback(null, first.address, first.family);
    });
  };

  return {
    send: (delivery, at) =>
      new Promise((resolve) => {
        let url: URL;
        try {
          url = new URL(delivery.url);
        } catch {
          resolve({ status: null, error: "invalid url" });
          return;
        }
        // A literal address never goes through a lookup: check it here.
        const host = url.hostname.replace(/^\[|\]$/g, "");
        if (isIP(host) !== 0 && !options.allowPrivate && !isPublicAddress(host)) {
          resolve({
            status: null,
            error: "refused: the address is loopback, private or link-local",
          });
          return;
        }
        const timestamp = new Date(Math.floor(at / 1000) * 1000);
        const signature = new Webhook(delivery.secret).sign(
          delivery.id,
          timestamp,
          delivery.payload,
        );
        const body = Buffer.from(delivery.payload, "utf8");
        const send = url.protocol === "https:" ? httpsRequest : httpRequest;
        let settled = false;
        const finish = (result: { status: number | null; error: string | null }) => {
          if (settled) return;
          settled = true;
          clearTimeout(deadline);
          resolve(result);
        };
        const req = send(url, {
          method: "POST",
          lookup: guardedLookup as never,
          // One connection per attempt: nothing is kept open for a receiver.
          agent: false,
          headers: {
            "content-type": "application/json",
            "content-length": String(body.length),
            "user-agent": "Keyward-Webhooks/1",
            "webhook-id": delivery.id,
            "webhook-timestamp": String(Math.floor(timestamp.getTime() / 1000)),
            "webhook-signature": signature,
          },
        });
        // A receiver that hangs (connect, headers or body) costs this one socket for 10 s.
        const deadline = setTimeout(() => {
          req.destroy(new Error("timeout"));
          finish({ status: null, error: `no answer in ${DELIVERY_TIMEOUT_MS / 1000} s` });
        }, DELIVERY_TIMEOUT_MS);
        deadline.unref();
        req.on("response", (res) => {
          // Read (and drop) at most a little of the answer; the status is what counts.
          let read = 0;
          res.on("data", (chunk: Buffer) => {
            read += chunk.length;
            if (read > 65_536) res.destroy();
          });
          res.on("end", () => finish({ status: res.statusCode ?? null, error: null }));
          res.on("close", () => finish({ status: res.statusCode ?? null, error: null }));
          res.on("error", () => finish({ status: res.statusCode ?? null, error: null }));
        });
        req.on("error", (error) => {
          finish({
            status: null,
            error:
              error instanceof RefusedAddressError
                ? error.message
                : `connection failed: ${(error as NodeJS.ErrnoException).code ?? "error"}`,
          });
        });
        req.end(body);
      }),
  };
}
