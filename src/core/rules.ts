import { KeywardError } from "./errors.js";

export const TOKEN_NAME_MAX_LENGTH = 100;
export const SCOPE_PATTERN = /^[a-z0-9][a-z0-9_:.-]{0,63}$/;
export const MAX_SCOPES = 50;
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;
/** Longest time a regenerated token's old secret may keep working. */
export const MAX_GRACE_SECONDS = 86_400;
/** Most days of usage one request may ask for. */
export const MAX_USAGE_DAYS = 366;
/** Most tokens one usage request may name: a page of the token list. */
export const MAX_USAGE_TOKEN_IDS = 100;
/** Longest host user id (`externalId`), in characters. */
export const EXTERNAL_ID_MAX_LENGTH = 200;
/** Most return origins an application may list. */
export const MAX_RETURN_ORIGINS = 20;
/** Most tokens one leak report may carry. */
export const MAX_LEAK_REPORT_TOKENS = 1000;

/**
 * True when the text holds a control character (C0, DEL, C1) or a lone UTF-16 surrogate.
 * No store keeps those faithfully (PostgreSQL refuses NUL outright, and a lone surrogate
 * is not UTF-8), so they are refused as input instead of failing or being altered later.
 */
export function hasUnstorableCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
    if (c >= 0xdc00 && c <= 0xdfff) return true;
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return true;
      i++;
    }
  }
  return false;
}

/**
 * A header's text as kept for display (a session's User-Agent): control characters, which
 * a header may carry (a tab, or C1 controls read from raw bytes), become spaces. Not
 * refused: a browser's own string must not stop its user from signing in.
 */
export function withoutControlCharacters(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing them is the point.
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, " ");
}

/**
 * Characters that change how text reads without being seen: bidirectional controls
 * (a right-to-left override makes `exe.txt` read `txt.exe`) and default-ignorable code
 * points (zero-width spaces and joiners, variation selectors, the soft hyphen), which make
 * `prod` and `prod` + U+200B two different names that look the same.
 */
const INVISIBLE = /[\p{Bidi_Control}\p{Default_Ignorable_Code_Point}]/u;

export function hasInvisibleCharacter(text: string): boolean {
  return INVISIBLE.test(text);
}

/**
 * Unicode's own line and paragraph separators (U+2028, U+2029): not control characters,
 * but they break a name onto a second line wherever it is shown, as a newline would.
 */
const LINE_SEPARATOR = /[\u2028\u2029]/;

/**
 * A name as stored and compared: NFC-normalised (`café` typed either way is one name),
 * trimmed, and refused when it holds a control, line-separator, bidirectional or
 * invisible character.
 */
function normalizeName(raw: string, what: string): string {
  const nfc = raw.normalize("NFC");
  // Checked before trimming: trim() would quietly drop a leading byte-order mark.
  const name = hasInvisibleCharacter(nfc) ? nfc : nfc.trim();
  if (hasUnstorableCharacter(name)) {
    throw new KeywardError("validation_failed", `${what} must not contain control characters.`);
  }
  if (LINE_SEPARATOR.test(name)) {
    throw new KeywardError("validation_failed", `${what} must be one line.`);
  }
  if (hasInvisibleCharacter(name)) {
    throw new KeywardError(
      "validation_failed",
      `${what} must not contain invisible or text-direction characters (zero-width spaces, bidirectional controls).`,
    );
  }
  return name;
}

/** Trims a token name and checks its length in characters (code points, not UTF-16 units). */
export function normalizeTokenName(raw: string): string {
  const name = normalizeName(raw, "Token name");
  const length = [...name].length;
  if (length < 1 || length > TOKEN_NAME_MAX_LENGTH) {
    throw new KeywardError(
      "validation_failed",
      `Token name must be 1 to ${TOKEN_NAME_MAX_LENGTH} characters after trimming.`,
    );
  }
  return name;
}

export function normalizeScopes(raw: readonly string[] | undefined, allowed: readonly string[]) {
  const scopes = [...new Set(raw ?? [])].sort();
  if (scopes.length > MAX_SCOPES) {
    throw new KeywardError("validation_failed", `At most ${MAX_SCOPES} scopes.`);
  }
  for (const scope of scopes) {
    if (!SCOPE_PATTERN.test(scope)) {
      throw new KeywardError(
        "validation_failed",
        "Scopes are 1-64 characters of lowercase letters, digits, '_', ':', '.' and '-'.",
      );
    }
    // An application that declares its scopes accepts only those; one that declares
    // none leaves scopes free-form.
    if (allowed.length > 0 && !allowed.includes(scope)) {
      throw new KeywardError("validation_failed", `This application has no scope "${scope}".`);
    }
  }
  return scopes;
}

export function normalizeEmail(raw: string): string {
  const email = raw.normalize("NFC").trim().toLowerCase();
  if (
    hasUnstorableCharacter(email) ||
    hasInvisibleCharacter(email) ||
    // Fullwidth and other compatibility forms (`ａ@example.com`) look like ASCII.
    email !== email.normalize("NFKC") ||
    email.length < 3 ||
    email.length > 254 ||
    !/^[^\s@]+@[^\s@]+$/.test(email)
  ) {
    throw new KeywardError("validation_failed", "Enter a valid email address.");
  }
  return email;
}

export function checkPassword(password: string): void {
  const length = [...password].length;
  // NIST 800-63B: at least 8 characters, allow long passphrases, no composition rules.
  if (length < PASSWORD_MIN_LENGTH || length > PASSWORD_MAX_LENGTH) {
    throw new KeywardError(
      "validation_failed",
      `Password must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters.`,
    );
  }
}

export function normalizeDisplayName(raw: string, what: string): string {
  const name = normalizeName(raw, what);
  const length = [...name].length;
  if (length < 1 || length > 100) {
    throw new KeywardError("validation_failed", `${what} must be 1 to 100 characters.`);
  }
  return name;
}

/**
 * A return origin as the owner typed it, reduced to `scheme://host[:port]`. Anything more
 * (a path, a query, credentials) is refused rather than dropped, so what is saved is what
 * was meant. A refusal names the entry by its place in the list (`position` counts from
 * 0), never by its text: a pasted URL can carry a password or a token.
 */
export function normalizeOrigin(raw: string, position: number): string {
  const shape = "a scheme, host and optional port, like https://app.example.com";
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new KeywardError(
      "validation_failed",
      `Return origin ${position + 1} is not an origin: it must be ${shape}.`,
    );
  }
  const bare = url.pathname === "/" && url.search === "" && url.hash === "";
  if (
    (url.protocol !== "https:" && url.protocol !== "http:") ||
    url.username !== "" ||
    url.password !== "" ||
    !bare
  ) {
    throw new KeywardError(
      "validation_failed",
      `Return origin ${position + 1} must be ${shape}, with no path, query or credentials.`,
    );
  }
  return url.origin;
}

/**
 * A portal link's `returnUrl` as it is kept and handed back: the URL standard's own writing
 * of it (`URL.href`: a space inside is written `%20`), when it is on one of `origins` and
 * carries no credentials; else undefined. Control characters, and spaces before or after
 * it, are refused rather than dropped, as a URL parser drops them without a word.
 */
export function returnUrlOnOrigins(url: string, origins: readonly string[]): string | undefined {
  if (hasUnstorableCharacter(url) || url !== url.trim()) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.username !== "" || parsed.password !== "") return undefined;
  return origins.includes(parsed.origin) ? parsed.href : undefined;
}

export function normalizeAccentColor(raw: string): string {
  if (!/^#[0-9a-fA-F]{6}$/.test(raw)) {
    throw new KeywardError("validation_failed", "accentColor must be #rrggbb.");
  }
  return raw.toLowerCase();
}

/**
 * The host's id for a user: 1-200 characters, no control characters, kept as given. `.` and
 * `..` are refused: every URL parser reads them as dot segments, so no client could name
 * them in a path.
 */
export function checkExternalId(externalId: string): string {
  const length = [...externalId].length;
  if (
    length < 1 ||
    length > EXTERNAL_ID_MAX_LENGTH ||
    hasUnstorableCharacter(externalId) ||
    externalId === "." ||
    externalId === ".."
  ) {
    throw new KeywardError(
      "validation_failed",
      `externalId must be 1 to ${EXTERNAL_ID_MAX_LENGTH} characters without control characters, and not "." or "..".`,
    );
  }
  return externalId;
}
