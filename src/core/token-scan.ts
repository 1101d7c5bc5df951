import { checkTokenFormat, tokenHint, tokenLength } from "./token.js";

// Finding Keyward secrets in text, for `keyward scan`: by prefix, length and checksum,
// so a look-alike (a wrong checksum, a different length) is never reported.

export type SecretKind = "token" | "service key";

export interface FoundSecret {
  kind: SecretKind;
  /** The secret itself: reported to a leak endpoint, never printed. */
  secret: string;
  hint: string;
  /** 1-based line and column in the text scanned. */
  line: number;
  column: number;
}

export interface SecretPattern {
  prefix: string;
  kind: SecretKind;
  regex: RegExp;
}

/**
 * The patterns for a deployment's prefix: its tokens (`<prefix>_…`) and its service keys
 * (`<prefix>sk_…`, the contract's service-key prefix).
 */
export function secretPatterns(tokenPrefix: string): SecretPattern[] {
  return [
    { prefix: tokenPrefix, kind: "token" as const },
    { prefix: `${tokenPrefix}sk`, kind: "service key" as const },
  ].map(({ prefix, kind }) => {
    const tail = tokenLength(prefix) - prefix.length - 1;
    // Not inside a longer word on either side, so `xkw_…` or a 40-character run is not
    // cut into a candidate.
    const regex = new RegExp(`(?<![0-9A-Za-z_])${prefix}_[0-9A-Za-z]{${tail}}(?![0-9A-Za-z])`, "g");
    return { prefix, kind, regex };
  });
}

/** Every secret in one line of text whose checksum holds. */
export function findSecretsInLine(
  text: string,
  line: number,
  patterns: readonly SecretPattern[],
): FoundSecret[] {
  const found: FoundSecret[] = [];
  for (const { prefix, kind, regex } of patterns) {
    if (!text.includes(`${prefix}_`)) continue;
    regex.lastIndex = 0;
    for (let match = regex.exec(text); match !== null; match = regex.exec(text)) {
      const secret = match[0];
      if (!checkTokenFormat(secret, prefix).ok) continue;
      found.push({ kind, secret, hint: tokenHint(secret, prefix), line, column: match.index + 1 });
    }
  }
  return found;
}

/** Every secret in a text, line by line. */
export function findSecrets(text: string, patterns: readonly SecretPattern[]): FoundSecret[] {
  const found: FoundSecret[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    found.push(...findSecretsInLine(lines[i] ?? "", i + 1, patterns));
  }
  return found;
}
