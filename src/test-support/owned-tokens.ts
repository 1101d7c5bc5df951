import { expect } from "vitest";
import type { Store } from "../services/ports.js";

/** The instant the helpers below write at, unless told otherwise. */
export const OWNED_TOKENS_AT = 1_900_000_000_000;

/**
 * A user and their application (`usr_<tag>`, `app_<tag>`), and one token for each secret
 * hash (`tok_<tag>1`, `tok_<tag>2`, ...), inserted through the store; returns the token ids.
 */
export async function insertOwnedTokens(
  store: Store,
  tag: string,
  secretHashes: readonly string[],
  now: number = OWNED_TOKENS_AT,
): Promise<string[]> {
  await store.users.insertUser({
    id: `usr_${tag}`,
    email: `${tag}@example.com`,
    name: tag,
    passwordHash: "x",
    createdAt: now,
  });
  await store.applications.insertApplication({
    id: `app_${tag}`,
    name: tag,
    ownerId: `usr_${tag}`,
    returnOrigins: [],
    branding: null,
    scopes: [],
    createdAt: now,
  });
  const ids: string[] = [];
  for (const [index, secretHash] of secretHashes.entries()) {
    const id = `tok_${tag}${index + 1}`;
    const inserted = await store.tokens.insertToken(
      {
        id,
        applicationId: `app_${tag}`,
        userId: `usr_${tag}`,
        name: `${tag}${index + 1}`,
        hint: "kw_…abcd",
        scopes: [],
        createdAt: now,
        expiresAt: null,
        secretHash,
      },
      { maxActivePerUser: 10, now },
    );
    expect(inserted.ok).toBe(true);
    ids.push(id);
  }
  return ids;
}
