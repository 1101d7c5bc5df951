import { DAY_MS } from "../core/policy.js";
import { auditEvent, NO_CONTEXT } from "./audit.js";
import type { ServiceDeps } from "./deps.js";

/** `token.expiring` goes out this long before a token's expiry. */
export const EXPIRING_NOTICE_MS = 7 * DAY_MS;
const BATCH = 500;
const LEASE_NAME = "policy-sweeper";

interface SweeperLog {
  warn(fields: Record<string, unknown>, message: string): void;
}

/**
 * Revokes tokens the unused-token policy has passed the line for, and queues
 * `token.expiring` for tokens a week from their expiry (and, with email on, a reminder
 * email to their owner). Every process runs it on a timer;
 * a lease in the store lets one process at a time do the work (the others find it held).
 * Either job is also safe if two ran: each revocation and each reminder is written once.
 */
export class PolicySweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly deps: ServiceDeps,
    private readonly holder: string,
    private readonly log: SweeperLog,
    private readonly intervalMs = 300_000,
    /** Called with how many deliveries may have been queued. */
    private readonly queued: () => void = () => {},
  ) {}

  start(): void {
    const tick = () => {
      this.runOnce().catch((error: unknown) =>
        this.log.warn({ err: error }, "token policy sweep failed"),
      );
    };
    tick();
    this.timer = setInterval(tick, this.intervalMs);
    this.timer.unref();
  }

  /** One pass, when this process gets the lease; the revoked token ids. */
  async runOnce(): Promise<string[]> {
    while (this.running) await this.running;
    let revoked: string[] = [];
    const pass = (async () => {
      const now = this.deps.clock.now();
      const held = await this.deps.store.policies.acquireLease({
        name: LEASE_NAME,
        holder: this.holder,
        now,
        until: now + 2 * this.intervalMs,
      });
      if (!held) return;
      revoked = await revokeUnusedTokens(this.deps);
      const reminders = await this.deps.store.webhooks.queueExpiring(
        now,
        now + EXPIRING_NOTICE_MS,
        BATCH,
      );
      // The owner's own reminder by email, with its own mark: once per token, by one process.
      const emails = this.deps.settings.mailEnabled
        ? await this.deps.store.mail.queueExpiryReminders(now, now + EXPIRING_NOTICE_MS, BATCH)
        : 0;
      if (revoked.length > 0 || reminders > 0 || emails > 0) this.queued();
    })();
    this.running = pass;
    try {
      await pass;
    } finally {
      this.running = undefined;
    }
    return revoked;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    while (this.running) await this.running.catch(() => {});
    await this.deps.store.policies
      .releaseLease({ name: LEASE_NAME, holder: this.holder })
      .catch(() => {});
  }
}

/**
 * Revokes, with reason `policy`, every active token unused (or never used since its
 * creation) for its application's `revokeUnusedAfterDays`; audited, and sent on the
 * revocation stream and to webhooks through the revocation's audit event.
 */
export async function revokeUnusedTokens(deps: ServiceDeps): Promise<string[]> {
  const revoked: string[] = [];
  for (;;) {
    const now = deps.clock.now();
    const candidates = await deps.store.policies.listUnusedTokens(now, BATCH);
    if (candidates.length === 0) break;
    for (const token of candidates) {
      const done = await deps.store.tokens.revokeToken(
        { tokenId: token.id, now, reason: "policy", revokedBy: null },
        [
          auditEvent(deps, NO_CONTEXT, {
            applicationId: token.applicationId,
            userId: token.userId,
            actorId: null,
            tokenId: token.id,
            action: "token.revoked",
            reason: "policy",
            detail: {
              unusedDays: token.revokeUnusedAfterDays,
              lastUsedAt:
                token.lastUsedAt === null ? null : new Date(token.lastUsedAt).toISOString(),
            },
          }),
        ],
      );
      if (done) revoked.push(token.id);
    }
    if (candidates.length < BATCH) break;
  }
  if (revoked.length > 0) await deps.invalidation.tokensRevoked(revoked);
  return revoked;
}
