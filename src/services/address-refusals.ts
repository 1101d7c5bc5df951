import type { SecretRecord } from "../core/model.js";
import { auditEvent } from "./audit.js";
import type { ServiceDeps } from "./deps.js";

/** One event per token and address per hour at most: a flood writes one row, not thousands. */
const WINDOW_MS = 3_600_000;
const MAX_REMEMBERED = 10_000;

/**
 * Records, for the token's owner, that it was presented from an address its allowlist does
 * not hold (audit `token.refused`, reason `address`, with the address). Off the request
 * path: the write is not awaited, and a failure costs the record, not the answer.
 */
export class AddressRefusalRecorder {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly deps: ServiceDeps,
    private readonly onError: (error: unknown) => void,
  ) {}

  record(token: SecretRecord, address: string): void {
    const now = this.deps.clock.now();
    const key = `${token.tokenId} ${address}`;
    const last = this.seen.get(key);
    if (last !== undefined && now - last < WINDOW_MS) return;
    if (this.seen.size >= MAX_REMEMBERED) {
      const oldest = this.seen.keys().next();
      if (!oldest.done) this.seen.delete(oldest.value);
    }
    this.seen.delete(key);
    this.seen.set(key, now);
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
