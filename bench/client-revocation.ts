import { readFileSync } from "node:fs";
import { KeywardClient } from "keyward-client";
import type { SeededStore } from "./seeding.js";
import type { BenchServer } from "./server.js";

/** Case 10: a revocation on Keyward process A reaching keyward-client in a host process. */
export interface ClientRevocationResult {
  revocations: number;
  /** From the revocation's 204 on A to the client (following B's stream) refusing the token. */
  streamP50Ms: number | undefined;
  streamP99Ms: number | undefined;
  streamMaxMs: number | undefined;
  /** With the stream off: the client's cache bound, and the longest a revoked token was still accepted. */
  cutCacheMaxAgeMs: number;
  cutRevocations: number;
  cutMaxAcceptedMs: number | undefined;
}

function pick(values: number[], p: number): number | undefined {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * Case 10 (PostgreSQL, two Keyward processes): a KeywardClient follows process B's
 * revocation stream; tokens are created and revoked on A. For each, the token is verified
 * (and so cached) first; after A's 204, the client verifies it in a loop (cache hits cost
 * no network) until it answers invalid. Then the same with the stream off, where only the
 * cache's maximum age can end the cached answer.
 */
export async function clientRevocation(
  serverA: BenchServer,
  serverB: BenchServer,
  store: SeededStore,
  revocations: number,
): Promise<ClientRevocationResult> {
  const sessions = readFileSync(store.sessionsFile, "utf8").trim().split("\n");
  const [secret, appId] = (sessions[sessions.length - 1] ?? "").split(" ");
  if (!secret || !appId) throw new Error(`no session user in ${store.sessionsFile}`);
  const cookie = `keyward_session=${secret}`;
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${serverA.baseUrl}${path}`, {
      method,
      headers: {
        cookie,
        origin: serverA.baseUrl,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  const { key } = await call<{ key: string }>(
    "POST",
    `/api/v1/applications/${appId}/service-keys`,
    {
      name: `client revocation ${process.pid}`,
    },
  );

  const measure = async (client: KeywardClient, count: number, label: string) => {
    const delays: number[] = [];
    for (let i = 0; i < count; i++) {
      const issued = await call<{ token: string; apiToken: { id: string } }>(
        "POST",
        `/api/v1/applications/${appId}/tokens`,
        { name: `${label} ${process.pid} ${i}` },
      );
      if (!(await client.verify(issued.token)).valid) throw new Error("a new token was refused");
      await call("DELETE", `/api/v1/applications/${appId}/tokens/${issued.apiToken.id}`);
      const acknowledged = performance.now();
      for (;;) {
        if (!(await client.verify(issued.token)).valid) break;
        if (performance.now() - acknowledged > 15_000) throw new Error("never refused");
        // Cache hits answer at once; yield so the stream can be read meanwhile.
        await new Promise((resolve) => setImmediate(resolve));
      }
      delays.push(performance.now() - acknowledged);
    }
    return delays;
  };

  const following = new KeywardClient({ url: serverB.baseUrl, serviceKey: key });
  let streamDelays: number[];
  try {
    // The stream opens with the first verification; let it settle before measuring.
    await measure(following, 3, "warm-up");
    streamDelays = await measure(following, revocations, "stream");
  } finally {
    await following.close();
  }

  const cutCacheMaxAgeMs = 1000;
  const cutRevocations = Math.min(20, revocations);
  const cut = new KeywardClient({
    url: serverB.baseUrl,
    serviceKey: key,
    cacheMaxAgeMs: cutCacheMaxAgeMs,
    revocationStream: false,
  });
  let cutDelays: number[];
  try {
    cutDelays = await measure(cut, cutRevocations, "cut");
  } finally {
    await cut.close();
  }
  return {
    revocations,
    streamP50Ms: pick(streamDelays, 50),
    streamP99Ms: pick(streamDelays, 99),
    streamMaxMs: pick(streamDelays, 100),
    cutCacheMaxAgeMs,
    cutRevocations,
    cutMaxAcceptedMs: pick(cutDelays, 100),
  };
}
