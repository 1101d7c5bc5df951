import { checkTokenFormat, hashToken } from "../core/token.js";
import { auditEvent, type RequestContext } from "./audit.js";
import type { ServiceDeps } from "./deps.js";

/**
 * Revokes every valid token in a leak report (e.g. from a secret scanner), with reason
 * `leaked`. Modelled on GitHub's credential-revocation API: the caller learns nothing
 * about which tokens were valid, so the report cannot be used to test tokens.
 */
export async function reportLeakedTokens(
  deps: ServiceDeps,
  tokens: readonly string[],
  ctx: RequestContext,
): Promise<{ received: number }> {
  const revokedIds: string[] = [];
  for (const token of new Set(tokens)) {
    if (!checkTokenFormat(token, deps.settings.tokenPrefix).ok) continue;
    const secret = await deps.store.tokens.findSecret(hashToken(token));
    if (!secret || secret.revokedAt !== null) continue;
    const revoked = await deps.store.tokens.revokeToken(
      {
        tokenId: secret.tokenId,
        now: deps.clock.now(),
        reason: "leaked",
        revokedBy: null,
      },
      [
        auditEvent(deps, ctx, {
          applicationId: secret.applicationId,
          userId: secret.userId,
          actorId: null,
          tokenId: secret.tokenId,
          action: "token.revoked",
          reason: "leaked",
          detail: { source: "leak_report" },
        }),
      ],
    );
    if (revoked) revokedIds.push(secret.tokenId);
  }
  await deps.invalidation.tokenChanged(revokedIds);
  return { received: tokens.length };
}
