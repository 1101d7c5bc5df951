import { readFileSync } from "node:fs";
import { SseReader } from "../src/test-support/sse.js";
import type { SeededStore } from "./seeding.js";
import type { BenchServer } from "./server.js";

/** Case 9: a revocation on one process reaching every one of many streams on another. */
export interface StreamFanOutResult {
  streams: number;
  revocations: number;
  /** From the revocation's 204 on A to the last of B's streams receiving its event. */
  lastReaderP50Ms: number | undefined;
  lastReaderP99Ms: number | undefined;
  lastReaderMaxMs: number | undefined;
  /** From the 204 to the first stream's event. */
  firstReaderP50Ms: number | undefined;
}

/**
 * Case 9 (PostgreSQL): opens `streams` revocation streams on process B with one service
 * key each (10 streams per key), then revokes tokens on A one at a time and measures when
 * the first and the last stream receive each event.
 */
export async function streamFanOut(
  serverA: BenchServer,
  serverB: BenchServer,
  store: SeededStore,
  streams: number,
  revocations: number,
): Promise<StreamFanOutResult> {
  const sessions = readFileSync(store.sessionsFile, "utf8").trim().split("\n");
  const [secret, appId] = (sessions[sessions.length - 1] ?? "").split(" ");
  if (!secret || !appId) throw new Error(`no session user in ${store.sessionsFile}`);
  const headers = {
    cookie: `keyward_session=${secret}`,
    origin: serverA.baseUrl,
    "content-type": "application/json",
  };
  const post = async <T>(path: string, body: unknown): Promise<T> => {
    const res = await fetch(`${serverA.baseUrl}${path}`, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
    });
    if (res.status !== 201) throw new Error(`POST ${path} answered ${res.status}`);
    return (await res.json()) as T;
  };
  const keys: string[] = [];
  for (let i = 0; i < Math.ceil(streams / 10); i++) {
    keys.push(
      (
        await post<{ key: string }>(`/api/v1/applications/${appId}/service-keys`, {
          name: `fan-out ${process.pid} ${i}`,
        })
      ).key,
    );
  }
  const readers: SseReader[] = [];
  try {
    for (let i = 0; i < streams; i++) {
      const reader = await SseReader.open(`${serverB.baseUrl}/api/v1/service/events`, {
        authorization: `Bearer ${keys[Math.floor(i / 10)]}`,
      });
      if (reader.status !== 200) throw new Error(`stream ${i} answered ${reader.status}`);
      readers.push(reader);
    }
    for (const reader of readers) await reader.waitFor("a position", (r) => r.lastId, 10_000);
    const last: number[] = [];
    const first: number[] = [];
    for (let i = 0; i < revocations; i++) {
      const { apiToken } = await post<{ apiToken: { id: string } }>(
        `/api/v1/applications/${appId}/tokens`,
        { name: `fan-out ${process.pid} ${i}` },
      );
      const revoked = await fetch(
        `${serverA.baseUrl}/api/v1/applications/${appId}/tokens/${apiToken.id}`,
        { method: "DELETE", headers: { cookie: headers.cookie, origin: headers.origin } },
      );
      await revoked.arrayBuffer();
      if (revoked.status !== 204) throw new Error(`revocation answered ${revoked.status}`);
      const acknowledged = performance.now();
      const arrivals: number[] = [];
      for (const reader of readers) {
        const event = await reader.waitFor(
          "the revocation",
          (r) => r.events.find((e) => e.data?.includes(apiToken.id)),
          10_000,
        );
        arrivals.push(Math.max(0, event.receivedAt - acknowledged));
      }
      last.push(Math.max(...arrivals));
      first.push(Math.min(...arrivals));
    }
    const pick = (values: number[], p: number) => {
      const sorted = [...values].sort((a, b) => a - b);
      return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
    };
    return {
      streams,
      revocations,
      lastReaderP50Ms: pick(last, 50),
      lastReaderP99Ms: pick(last, 99),
      lastReaderMaxMs: pick(last, 100),
      firstReaderP50Ms: pick(first, 50),
    };
  } finally {
    for (const reader of readers) reader.close();
  }
}
