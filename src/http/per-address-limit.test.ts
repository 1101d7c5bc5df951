import Fastify from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { perAddressLimit } from "./per-address-limit.js";

const T0 = 1_800_000_000_000;

describe("perAddressLimit", () => {
  const apps: Array<{ close(): Promise<unknown> }> = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });

  async function limitedApp(max: number, clock: { now: number }) {
    const app = Fastify();
    apps.push(app);
    let ran = 0;
    app.post("/limited", { onRequest: perAddressLimit(max, () => clock.now) }, async () => {
      ran++;
      return { ran };
    });
    const baseUrl = await app.listen({ port: 0, host: "127.0.0.1" });
    return { baseUrl, ran: () => ran };
  }

  it("tells every answer the limit, what is left and when it resets, and refuses past the limit without running the route", async () => {
    const clock = { now: T0 };
    const { baseUrl, ran } = await limitedApp(2, clock);
    const call = () =>
      fetch(`${baseUrl}/limited`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
    const first = await call();
    expect(first.status).toBe(200);
    expect(first.headers.get("x-ratelimit-limit")).toBe("2");
    expect(first.headers.get("x-ratelimit-remaining")).toBe("1");
    expect(first.headers.get("x-ratelimit-reset")).toBe("60");
    clock.now = T0 + 20_500;
    const second = await call();
    expect(second.status).toBe(200);
    expect(second.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(second.headers.get("x-ratelimit-reset")).toBe("40");
    const refused = await call();
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("40");
    expect(refused.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(refused.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(await refused.json()).toMatchObject({ status: 429, code: "rate_limited" });
    expect(ran()).toBe(2);
    // The window is fixed: it ends a minute after its first request, and a new one begins.
    clock.now = T0 + 60_000;
    const again = await call();
    expect(again.status).toBe(200);
    expect(again.headers.get("x-ratelimit-remaining")).toBe("1");
    expect(ran()).toBe(3);
  });

  it("counts a request refused for its body too: the limit runs before the body is read", async () => {
    const clock = { now: T0 };
    const { baseUrl } = await limitedApp(1, clock);
    const bad = await fetch(`${baseUrl}/limited`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{not json",
    });
    expect(bad.status).toBe(400);
    const next = await fetch(`${baseUrl}/limited`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(next.status).toBe(429);
  });
});
