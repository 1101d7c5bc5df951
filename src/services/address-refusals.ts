import type { SecretRecord } from "../core/model.js";
import { auditEvent } from "./audit.js";
import type { ServiceDeps } from "./deps.js";

/**
 * One event per token and network per hour at most, and at most MAX_PER_TOKEN a token an
 * hour: a flood writes a few rows, not thousands, whoever chooses the addresses (a caller
 * of the service verify names them).
 */
const WINDOW_MS = 3_600_000;
export const MAX_ADDRESS_REFUSALS_PER_TOKEN = 100;
const MAX_REMEMBERED = 10_000;

/**
 * Records, for the token's owner, that it was presented from an address its allowlist does
 * not hold (audit `token.refused`, reason `address`, with the address). Off the request
 * path: the write is not awaited, and a failure costs the record, not the answer.
 */
export class AddressRefusalRecorder {
  /** `<token id> <network>` → when its last event was written. */
  private readonly seen = new Map<string, number>();
  /** Token id → the hour its events are counted in, and how many it has had. */
  private readonly perToken = new Map<string, { since: number; count: number }>();

  constructor(
    private readonly deps: ServiceDeps,
    private readonly onError: (error: unknown) => void,
    /**
     * The network an address counts as (an IPv6 address by its /64, as the per-address
     * limits count it): a host holds a /64 whole, and each of its addresses is not news.
     */
    private readonly networkOf: (address: string) => string = (address) => address,
  ) {}

  record(token: SecretRecord, address: string): void {
    const now = this.deps.clock.now();
    const key = `${token.tokenId} ${this.networkOf(address)}`;
    const last = this.seen.get(key);
    if (last !== undefined && now - last < WINDOW_MS) return;
    let counted = this.perToken.get(token.tokenId);
    if (counted === undefined || now - counted.since >= WINDOW_MS) {
      counted = { since: now, count: 0 };
      remember(this.perToken, token.tokenId, counted);
    }
    if (counted.count >= MAX_ADDRESS_REFUSALS_PER_TOKEN) return;
    counted.count++;
    remember(this.seen, key, now);
    const event = auditEvent(
      this.deps,
      { ip: address },
      {
        applicationId: token.applicationId,
        userId: token.userId,
        actorId: null,
        tokenId: token.tokenId,
        action: "token.refused",
        reason: "address",
      },
    );
    this.deps.store.audit.record([event]).catch(this.onError);
  }
}

/** Sets `key` as the newest entry of `map`, forgetting the oldest past MAX_REMEMBERED. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  if (map.size >= MAX_REMEMBERED) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}
