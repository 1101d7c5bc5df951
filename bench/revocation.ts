import { readFileSync } from "node:fs";
import type { SeededStore } from "./seeding.js";
import type { BenchServer } from "./server.js";

/** Case 7: how long after a revocation on one process the other process refuses the token. */
export interface RevocationResult {
  revocations: number;
  neverRefusedWithin10s: number;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  maxMs: number | undefined;
}

interface CreatedToken {
  token: string;
  apiToken: { id: string };
}

/**
 * Case 7 (PostgreSQL): creates a token on process A, has process B accept it (so B holds it
 * in its cache), revokes it on A, and polls B until B refuses it; `count` times.
 */
export async function revocationPropagation(
  serverA: BenchServer,
  serverB: BenchServer,
  store: SeededStore,
  count: number,
): Promise<RevocationResult> {
  const sessions = readFileSync(store.sessionsFile, "utf8").trim().split("\n");
  const [secret, appId] = (sessions[sessions.length - 1] ?? "").split(" ");
  if (!secret || !appId) throw new Error(`no session user in ${store.sessionsFile}`);
  const headers = {
    cookie: `keyward_session=${secret}`,
    origin: serverA.baseUrl,
    "content-type": "application/json",
  };
  const samples: number[] = [];
  let stale = 0;
  for (let i = 0; i < count; i++) {
    const created = await fetch(`${serverA.baseUrl}/api/v1/applications/${appId}/tokens`, {
      method: "POST",
      headers,
      body: JSON.stringify({ name: `revocation ${process.pid} ${i}` }),
    });
    if (created.status !== 201) throw new Error(`token creation answered ${created.status}`);
    const { token, apiToken } = (await created.json()) as CreatedToken;
    const bearer = { authorization: `Bearer ${token}` };
    // B answers 200 and now holds the token in its cache.
    const warm = await fetch(`${serverB.baseUrl}/api`, { headers: bearer });
    await warm.arrayBuffer();
    if (warm.status !== 200) throw new Error(`process B answered ${warm.status} before revocation`);
    const revoked = await fetch(
      `${serverA.baseUrl}/api/v1/applications/${appId}/tokens/${apiToken.id}`,
      { method: "DELETE", headers: { cookie: headers.cookie, origin: headers.origin } },
    );
    await revoked.arrayBuffer();
    if (revoked.status !== 204) throw new Error(`revocation answered ${revoked.status}`);
    const t0 = performance.now();
    // Poll B until it refuses; bounded by the cache's maximum age and then some.
    let refusedAfter = Number.NaN;
    while (performance.now() - t0 < 10_000) {
      const res = await fetch(`${serverB.baseUrl}/api`, { headers: bearer });
      await res.arrayBuffer();
      if (res.status === 401) {
        refusedAfter = performance.now() - t0;
        break;
      }
    }
    if (Number.isNaN(refusedAfter)) stale++;
    else samples.push(refusedAfter);
  }
  const sorted = samples.slice().sort((a, b) => a - b);
  const percentile = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
  return {
    revocations: count,
    neverRefusedWithin10s: stale,
    p50Ms: percentile(50),
    p99Ms: percentile(99),
    maxMs: sorted[sorted.length - 1],
  };
}
