import { describe, expect, it } from "vitest";
import type { Clock, ServiceKeySecret } from "./ports.js";
import { SERVICE_KEY_CACHE_MAX_ENTRIES, ServiceKeyCache } from "./service-key-cache.js";

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

  it("makes room for a new key by dropping the oldest one only, when full", () => {
    const clock = new FixedClock();
    const cache = new ServiceKeyCache(clock, 5000);
    for (let i = 0; i < SERVICE_KEY_CACHE_MAX_ENTRIES; i++) {
      cache.put(`h${i}`, key(`key_${i}`), cache.ticket());
    }
    // Cached again (two lookups of one key at once): still one entry, now the newest, and
    // nothing dropped for it.
    cache.put("h0", key("key_0"), cache.ticket());
    expect(cache.get(`h${SERVICE_KEY_CACHE_MAX_ENTRIES - 1}`)).toBeDefined();
    expect(cache.get("h1")).toBeDefined();
    cache.put("new", key("key_new"), cache.ticket());
    expect(cache.get("new")?.key.id).toBe("key_new");
    expect(cache.get("h1")).toBeUndefined();
    for (const kept of [0, 2, 5, SERVICE_KEY_CACHE_MAX_ENTRIES - 1]) {
      expect(cache.get(`h${kept}`)?.key.id).toBe(`key_${kept}`);
    }
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
