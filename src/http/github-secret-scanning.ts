import { createPublicKey, type KeyObject, verify } from "node:crypto";

/**
 * GitHub's secret-scanning public keys, as the operator configured them: the JSON GitHub
 * publishes at https://api.github.com/meta/public_keys/secret_scanning
 * (`{"public_keys":[{"key_identifier","key"}]}`), saved to a file or put in an environment
 * variable. Never fetched at run time: a server that reached out to GitHub to decide whom
 * to trust would trust whatever answered.
 */
export type GitHubKeys = ReadonlyMap<string, KeyObject>;

/** Reads the keys document; throws with what is wrong, for the start-up message. */
export function parseGitHubKeys(text: string): GitHubKeys {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new Error("GitHub secret-scanning keys: not valid JSON");
  }
  const list = (document as { public_keys?: unknown })?.public_keys;
  if (!Array.isArray(list) || list.length === 0)
    throw new Error(
      'GitHub secret-scanning keys: expected {"public_keys":[{"key_identifier","key"}]}',
    );
  const keys = new Map<string, KeyObject>();
  for (const entry of list as { key_identifier?: unknown; key?: unknown }[]) {
    if (typeof entry.key_identifier !== "string" || typeof entry.key !== "string")
      throw new Error("GitHub secret-scanning keys: each key needs key_identifier and key (PEM)");
    let key: KeyObject;
    try {
      key = createPublicKey(entry.key);
    } catch {
      throw new Error(
        `GitHub secret-scanning keys: key ${entry.key_identifier} is not a PEM public key`,
      );
    }
    if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1")
      throw new Error(
        `GitHub secret-scanning keys: key ${entry.key_identifier} is not ECDSA P-256`,
      );
    keys.set(entry.key_identifier, key);
  }
  return keys;
}

/**
 * Whether `signature` (base64, DER-encoded ECDSA) over the raw body verifies with the key
 * named by `keyId`: GitHub signs the exact bytes it sends, so the body is checked as
 * received, before any parsing could change it.
 */
export function verifyGitHubSignature(
  keys: GitHubKeys,
  keyId: string | undefined,
  signature: string | undefined,
  rawBody: string,
): boolean {
  if (keyId === undefined || signature === undefined) return false;
  const key = keys.get(keyId);
  if (key === undefined) return false;
  try {
    return verify(
      "sha256",
      Buffer.from(rawBody, "utf8"),
      { key, dsaEncoding: "der" },
      Buffer.from(signature, "base64"),
    );
  } catch {
    return false;
  }
}
