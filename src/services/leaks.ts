import { checkTokenFormat, hashToken } from "../core/token.js";
import { auditEvent, type RequestContext } from "./audit.js";
import type { ServiceDeps } from "./deps.js";
import { serviceKeyPrefix } from "./service-keys.js";

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
  const keyPrefix = serviceKeyPrefix(deps.settings.tokenPrefix);
  // Read once per report, when first needed: a report of many strings outside our format
  // costs one read, not one per string.
  let importedExist: boolean | undefined;
  for (const token of new Set(tokens)) {
    if (checkTokenFormat(token, keyPrefix).ok) {
      await revokeLeakedServiceKey(deps, token, ctx);
      continue;
    }
    const ours = checkTokenFormat(token, deps.settings.tokenPrefix).ok;
    const secretHash = hashToken(token);
    // Outside our format only an imported token (`keyward import-tokens`) can be ours.
    if (!ours) importedExist ??= await deps.store.tokens.hasImportedTokens();
    if (!ours && !importedExist) continue;
    const secret = await deps.store.tokens.findSecret(secretHash);
    if (!ours && secret?.imported !== true) continue;
    const now = deps.clock.now();
    // Only a secret that still works is acted on: reading an ended secret in old history
    // must not let anyone kill the live credential that replaced it.
    if (
      !secret ||
      secret.revokedAt !== null ||
      (secret.expiresAt !== null && secret.expiresAt <= now) ||
      (secret.secretExpiresAt !== null && secret.secretExpiresAt <= now)
    ) {
      continue;
    }
    const audit = (action: "token.revoked" | "token.secret_ended") => [
      auditEvent(deps, ctx, {
        applicationId: secret.applicationId,
        userId: secret.userId,
        actorId: null,
        tokenId: secret.tokenId,
        action,
        reason: "leaked",
        detail: { source: "leak_report" },
      }),
    ];
    // The store decides again, after any regeneration under way: the secret read above
    // may have become an old one since, which must end alone.
    const outcome = await deps.store.tokens.revokeLeakedSecret(
      { tokenId: secret.tokenId, secretHash, now },
      { revoked: audit("token.revoked"), secretEnded: audit("token.secret_ended") },
    );
    // Announced at once, not after the whole report: a long report must not leave the
    // tokens it already revoked working meanwhile (or for good, should a later one fail).
    if (outcome === "revoked") await deps.invalidation.tokensRevoked([secret.tokenId]);
    // A change, not a revocation: the token's current secret must keep working.
    if (outcome === "secret_ended") await deps.invalidation.tokenChanged([secret.tokenId]);
  }
  return { received: tokens.length };
}

export type LeakLabel = "true_positive" | "false_positive";

/**
 * GitHub's secret-scanning partner report: each match labelled `true_positive` when it is
 * a token or service key of this server (working or not: a real credential was exposed),
 * `false_positive` otherwise; the working ones are revoked as any leak report's are. Only
 * a caller whose signature verified gets here, so the labels tell nothing to an attacker.
 */
export async function reportGitHubMatches(
  deps: ServiceDeps,
  matches: readonly { token: string; type: string }[],
  ctx: RequestContext,
): Promise<{ token_raw: string; token_type: string; label: LeakLabel }[]> {
  const labels = new Map<string, LeakLabel>();
  const keyPrefix = serviceKeyPrefix(deps.settings.tokenPrefix);
  for (const { token } of matches) {
    if (labels.has(token)) continue;
    let known = false;
    if (checkTokenFormat(token, keyPrefix).ok) {
      known = (await deps.store.serviceKeys.findServiceKeyBySecret(hashToken(token))) !== undefined;
    } else {
      const record = await deps.store.tokens.findSecret(hashToken(token));
      known =
        record !== undefined &&
        (checkTokenFormat(token, deps.settings.tokenPrefix).ok || record.imported === true);
    }
    labels.set(token, known ? "true_positive" : "false_positive");
  }
  await reportLeakedTokens(
    deps,
    matches.map((m) => m.token),
    ctx,
  );
  return matches.map((m) => ({
    token_raw: m.token,
    token_type: m.type,
    label: labels.get(m.token) ?? "false_positive",
  }));
}

/** A reported service key still in use is revoked; its application's owners see why. */
async function revokeLeakedServiceKey(
  deps: ServiceDeps,
  key: string,
  ctx: RequestContext,
): Promise<void> {
  const record = await deps.store.serviceKeys.findServiceKeyBySecret(hashToken(key));
  if (!record || record.revokedAt !== null) return;
  await deps.store.serviceKeys.revokeServiceKey(
    { keyId: record.id, now: deps.clock.now(), revokedBy: null },
    [
      auditEvent(deps, ctx, {
        applicationId: record.applicationId,
        userId: null,
        actorId: null,
        tokenId: null,
        action: "service_key.revoked",
        reason: "leaked",
        detail: { keyId: record.id, name: record.name, source: "leak_report" },
      }),
    ],
  );
  await deps.invalidation.tokenChanged([record.id]);
}
