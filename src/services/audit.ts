import { KeywardError } from "../core/errors.js";
import type { User } from "../core/model.js";
import type { ServiceDeps } from "./deps.js";
import { isManager, requireMembership } from "./membership.js";
import type { AuditAction, AuditEvent, AuditEventInput, AuditQuery } from "./ports.js";

/** Facts about the request that the audit trail keeps: the client address only. */
export interface RequestContext {
  ip: string | null;
  /** The client's User-Agent, kept with a session it starts (the session list shows it). */
  userAgent?: string | null;
}

export const NO_CONTEXT: RequestContext = { ip: null };

export const AUDIT_PAGE_MAX = 200;

export function auditEvent(
  deps: ServiceDeps,
  ctx: RequestContext,
  event: Omit<AuditEventInput, "createdAt" | "ip" | "reason" | "detail"> &
    Partial<Pick<AuditEventInput, "reason" | "detail">>,
): AuditEventInput {
  return {
    reason: null,
    detail: {},
    ...event,
    ip: ctx.ip,
    createdAt: deps.clock.now(),
  };
}

export interface AuditPage {
  events: AuditEvent[];
  /** Pass as `before` for the next (older) page; null on the last page. */
  nextBefore: string | null;
  /** How many events match the filters, over all pages. */
  total: number;
}

function parseCursor(cursor: string | undefined): AuditQuery["before"] {
  if (cursor === undefined) return undefined;
  const match = /^(\d{1,15})\.(evt_[0-9a-z]{1,40})$/.exec(cursor);
  if (!match)
    throw new KeywardError("validation_failed", "before: not a cursor from a previous page.");
  return { createdAt: Number(match[1]), id: match[2] as string };
}

async function page(deps: ServiceDeps, query: AuditQuery): Promise<AuditPage> {
  const { before: _before, limit: _limit, ...filter } = query;
  const [events, total] = await Promise.all([
    deps.store.audit.list({ ...query, limit: query.limit + 1 }),
    deps.store.audit.count(filter),
  ]);
  const more = events.length > query.limit;
  const shown = more ? events.slice(0, query.limit) : events;
  const last = shown.at(-1);
  return {
    events: shown,
    nextBefore: more && last ? `${last.createdAt}.${last.id}` : null,
    total,
  };
}

/** Events with no actor whose address is where a token was presented from. */
const PRESENTED_FROM: ReadonlySet<AuditAction> = new Set(["token.exposed", "token.refused"]);

/**
 * An application's audit trail. Owners and admins read all of it; a member reads the
 * events of their own tokens only, with the addresses of their own actions and of where
 * their tokens were presented from (`PRESENTED_FROM`), not other people's.
 */
export async function listApplicationAudit(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
  filter: {
    tokenId?: string;
    action?: AuditAction;
    /** Text found, ignoring case, in the actor's email or the token's name. */
    q?: string;
    before?: string;
    limit?: number;
  },
): Promise<AuditPage> {
  const { role } = await requireMembership(deps, actor, applicationId);
  const limit = Math.min(Math.max(filter.limit ?? 50, 1), AUDIT_PAGE_MAX);
  const found = await page(deps, {
    applicationId,
    ...(isManager(role) ? {} : { tokenOwnerId: actor.id }),
    ...(filter.tokenId ? { tokenId: filter.tokenId } : {}),
    ...(filter.action ? { action: filter.action } : {}),
    ...(filter.q?.trim() ? { search: filter.q.trim() } : {}),
    before: parseCursor(filter.before),
    limit,
  });
  if (isManager(role)) return found;
  // A member sees what was done to their tokens and by whom, but not where other people
  // (an admin, the host's backend, whoever reported a leak) were: an address is the owner's
  // and admins' to see, as in GitHub's organization audit log. Where their own token was
  // presented from (sent in the clear, or from outside its allowlist) is theirs to see.
  return {
    ...found,
    events: found.events.map((event) =>
      event.ip === null ||
      event.actorId === actor.id ||
      (event.actorId === null && PRESENTED_FROM.has(event.action))
        ? event
        : { ...event, ip: null },
    ),
  };
}

/** The signed-in user's own account events: sign-ups and sign-ins, failed ones included. */
export async function listAccountAudit(
  deps: ServiceDeps,
  actor: User,
  filter: { before?: string; limit?: number },
): Promise<AuditPage> {
  const limit = Math.min(Math.max(filter.limit ?? 50, 1), AUDIT_PAGE_MAX);
  return page(deps, { accountUserId: actor.id, before: parseCursor(filter.before), limit });
}
