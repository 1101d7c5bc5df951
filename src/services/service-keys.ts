import { KeywardError } from "../core/errors.js";
import { generateId } from "../core/ids.js";
import type { ServiceKeyRecord, User } from "../core/model.js";
import { normalizeDisplayName } from "../core/rules.js";
import { checkTokenFormat, generateToken, hashToken, tokenHint } from "../core/token.js";
import { auditEvent, NO_CONTEXT, type RequestContext } from "./audit.js";
import type { ServiceDeps } from "./deps.js";
import { requireManager } from "./membership.js";
import type { ServiceKeySecret } from "./ports.js";

/** Service keys look like tokens with their own prefix: `<TOKEN_PREFIX>sk_…` (`kwsk_…`). */
export function serviceKeyPrefix(tokenPrefix: string): string {
  return `${tokenPrefix}sk`;
}

/** `lastUsedAt` of a key is written at most this often: a read per request, not a write. */
export const SERVICE_KEY_USE_RESOLUTION_MS = 60_000;

const MANAGERS_ONLY = "Only owners and admins manage service keys.";

export async function createServiceKey(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
  input: { name: string },
  ctx: RequestContext = NO_CONTEXT,
): Promise<{ key: string; record: ServiceKeyRecord }> {
  const { role } = await requireManager(deps, actor, applicationId, MANAGERS_ONLY);
  const name = normalizeDisplayName(input.name, "Service key name");
  const prefix = serviceKeyPrefix(deps.settings.tokenPrefix);
  const key = generateToken(deps.random, prefix);
  const record: ServiceKeyRecord = {
    id: generateId(deps.random, "key"),
    applicationId,
    name,
    hint: tokenHint(key, prefix),
    createdAt: deps.clock.now(),
    lastUsedAt: null,
    revokedAt: null,
  };
  await deps.store.serviceKeys.insertServiceKey(
    { ...record, secretHash: hashToken(key), createdBy: actor.id },
    [
      auditEvent(deps, ctx, {
        applicationId,
        userId: null,
        actorId: actor.id,
        tokenId: null,
        action: "service_key.created",
        detail: { keyId: record.id, name },
      }),
    ],
  );
  return {
    key,
    record: { ...record, creator: { id: actor.id, email: actor.email, member: true, role } },
  };
}

export async function listServiceKeys(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
): Promise<ServiceKeyRecord[]> {
  await requireManager(deps, actor, applicationId, MANAGERS_ONLY);
  return deps.store.serviceKeys.listServiceKeys(applicationId);
}

/** Revokes a key; again is fine. Every process refuses it from the next request on. */
export async function revokeServiceKey(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
  keyId: string,
  ctx: RequestContext = NO_CONTEXT,
): Promise<void> {
  await requireManager(deps, actor, applicationId, MANAGERS_ONLY);
  const key = await deps.store.serviceKeys.findServiceKey(applicationId, keyId);
  if (!key) throw new KeywardError("not_found", "No such service key.");
  await deps.store.serviceKeys.revokeServiceKey(
    { keyId, now: deps.clock.now(), revokedBy: actor.id },
    [
      auditEvent(deps, ctx, {
        applicationId,
        userId: null,
        actorId: actor.id,
        tokenId: null,
        action: "service_key.revoked",
        detail: { keyId, name: key.name },
      }),
    ],
  );
  // Through the channel token changes take: every process's hub wakes and ends the
  // streams this key holds.
  await deps.invalidation.tokenChanged([keyId]);
}

/**
 * The key behind a presented service key, or undefined when it is malformed, unknown or
 * revoked. A valid key is cached (ServiceKeyCache) until a change to it is heard through
 * the channel token revocations take, so a revocation holds at once on the process that
 * made it and within that channel's bound on every other; without a cache, every call is
 * one indexed storage read.
 */
export async function authenticateServiceKey(
  deps: ServiceDeps,
  presented: string,
): Promise<ServiceKeySecret | undefined> {
  if (!checkTokenFormat(presented, serviceKeyPrefix(deps.settings.tokenPrefix)).ok) {
    return undefined;
  }
  const secretHash = hashToken(presented);
  const cache = deps.serviceKeyCache;
  let cached = cache?.get(secretHash);
  let key: ServiceKeySecret;
  if (cached !== undefined) {
    key = cached.key;
  } else {
    const ticket = cache?.ticket() ?? 0;
    const found = await deps.store.serviceKeys.findServiceKeyBySecret(secretHash);
    if (!found || found.revokedAt !== null) return undefined;
    key = found;
    cached = cache?.put(secretHash, found, ticket);
  }
  const now = deps.clock.now();
  const lastUsedAt = cached !== undefined ? cached.lastUsedAt : key.lastUsedAt;
  if (lastUsedAt === null || now - lastUsedAt >= SERVICE_KEY_USE_RESOLUTION_MS) {
    if (cached !== undefined) cached.lastUsedAt = now;
    // Not awaited by the request: a failed write costs a stale "last used", not the request.
    deps.store.serviceKeys.recordServiceKeyUse([{ keyId: key.id, at: now }]).catch(() => {});
  }
  return key;
}
