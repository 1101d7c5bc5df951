import { describe, expect, it } from "vitest";
import type { Clock, ServiceKeySecret } from "./ports.js";
import { ServiceKeyCache } from "./service-key-cache.js";

class FixedClock implements Clock {
  constructor(public at = 1_000_000) {}
  now(): number {
    return this.at;
  }
}

function key(id: string, revokedAt: number | null = null): ServiceKeySecret {
  return {
    id,
    applicationId: "app_1",
    applicationName: "Acme",
    name: "backend",
    hint: "kwsk_…abcd",
    createdAt: 1,
    lastUsedAt: null,
    revokedAt,
  };
}

describe("the service-key cache", () => {
  it("serves a cached key until its maximum age, and a key cached in the future as stale", () => {
    const clock = new FixedClock();
    const cache = new ServiceKeyCache(clock, 5000);
    expect(cache.get("h1")).toBeUndefined();
    cache.put("h1", key("key_1"), cache.ticket());
    expect(cache.get("h1")?.key.id).toBe("key_1");
    clock.at += 4999;
    expect(cache.get("h1")?.key.id).toBe("key_1");
    clock.at += 1;
    expect(cache.get("h1")).toBeUndefined();

    cache.put("h2", key("key_2"), cache.ticket());
    clock.at -= 1; // the system clock set back
    expect(cache.get("h2")).toBeUndefined();
  });

  it("drops the keys whose ids are announced, and only those", () => {
    const cache = new ServiceKeyCache(new FixedClock(), 5000);
    cache.put("h1", key("key_1"), cache.ticket());
    cache.put("h2", key("key_2"), cache.ticket());
    cache.invalidate(["tok_x", "key_1"]);
    expect(cache.get("h1")).toBeUndefined();
    expect(cache.get("h2")?.key.id).toBe("key_2");
    cache.clear();
    expect(cache.get("h2")).toBeUndefined();
  });

  it("does not cache a read that was under way when any change was heard", () => {
    const cache = new ServiceKeyCache(new FixedClock(), 5000);
    const ticket = cache.ticket();
    // The storage read is in flight; the key's revocation commits and is heard.
    cache.invalidate(["key_1"]);
    expect(cache.put("h1", key("key_1"), ticket)).toBeUndefined();
    expect(cache.get("h1")).toBeUndefined();
    const cleared = cache.ticket();
    cache.clear();
    expect(cache.put("h1", key("key_1"), cleared)).toBeUndefined();
  });

  it("never caches a revoked key, nor anything while the channel is not trusted or the age is 0", () => {
    const cache = new ServiceKeyCache(new FixedClock(), 5000);
    expect(cache.put("h1", key("key_1", 5), cache.ticket())).toBeUndefined();
    cache.put("h2", key("key_2"), cache.ticket());
    cache.setTrusted(false);
    expect(cache.get("h2")).toBeUndefined();
    expect(cache.put("h2", key("key_2"), cache.ticket())).toBeUndefined();
    cache.setTrusted(true);
    expect(cache.get("h2")).toBeUndefined();
    expect(cache.put("h2", key("key_2"), cache.ticket())).toBeDefined();
    expect(cache.get("h2")?.key.id).toBe("key_2");

    const off = new ServiceKeyCache(new FixedClock(), 0);
    expect(off.put("h1", key("key_1"), off.ticket())).toBeUndefined();
    expect(off.size).toBe(0);
  });
});
