import { KeywardError } from "./errors.js";

/** Most entries a token's address allowlist may hold. */
export const MAX_ALLOWED_ADDRESSES = 20;

/** An address as bytes: 4 for IPv4, 16 for IPv6 (an IPv4-mapped IPv6 address is IPv4). */
type Address = Uint8Array;

function parseIpv4(text: string): Address | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i] as string;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) return undefined;
    bytes[i] = Number(part);
  }
  return bytes;
}

function parseIpv6(text: string): Address | undefined {
  let head = text;
  let tailV4: Address | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    tailV4 = parseIpv4(text.slice(lastColon + 1));
    if (!tailV4) return undefined;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string) => (half === "" ? [] : half.split(":"));
  const left = groups(halves[0] as string);
  const right = halves.length === 2 ? groups(halves[1] as string) : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...left, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...right];
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const group = all[i] as string;
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    const value = Number.parseInt(group, 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  }
  if (tailV4) bytes.set(tailV4, 12);
  return bytes;
}

/** Parses an IPv4 or IPv6 address; an IPv4-mapped IPv6 address gives its IPv4 bytes. */
export function parseAddress(text: string): Address | undefined {
  const v4 = parseIpv4(text);
  if (v4) return v4;
  const zoneless = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const v6 = parseIpv6(zoneless);
  if (!v6) return undefined;
  const mapped = v6.slice(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff;
  return mapped ? v6.slice(12) : v6;
}

interface Network {
  base: Address;
  prefix: number;
}

function parseNetwork(text: string): Network | undefined {
  const [addressText, prefixText, extra] = text.split("/");
  if (extra !== undefined || addressText === undefined) return undefined;
  const base = parseAddress(addressText);
  if (!base) return undefined;
  const bits = base.length * 8;
  if (prefixText === undefined) return { base, prefix: bits };
  if (!/^[0-9]{1,3}$/.test(prefixText) || Number(prefixText) > bits) return undefined;
  return { base, prefix: Number(prefixText) };
}

function inNetwork(address: Address, network: Network): boolean {
  if (address.length !== network.base.length) return false;
  let bits = network.prefix;
  for (let i = 0; i < address.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((address[i] as number) & mask) !== ((network.base[i] as number) & mask)) return false;
  }
  return true;
}

/**
 * A token's allowlist as given by its owner: up to 20 addresses or CIDRs (IPv4 or IPv6),
 * each checked, deduplicated, kept as written (trimmed). An empty list means no limit.
 */
export function normalizeAllowedAddresses(raw: readonly string[]): string[] {
  const entries = [...new Set(raw.map((entry) => entry.trim()))];
  if (entries.length > MAX_ALLOWED_ADDRESSES) {
    throw new KeywardError(
      "validation_failed",
      `allowedAddresses holds at most ${MAX_ALLOWED_ADDRESSES} addresses or CIDRs.`,
    );
  }
  // A refusal names the entry by its place in the list, never by its text (a problem's
  // detail never quotes the request).
  raw.forEach((entry, position) => {
    if (!parseNetwork(entry.trim())) {
      throw new KeywardError(
        "validation_failed",
        `Allowed address ${position + 1} is not an IPv4 or IPv6 address or CIDR.`,
      );
    }
  });
  return entries;
}

/** True when `address` is on the allowlist (an empty or absent list allows every address). */
export function isAddressAllowed(allowed: readonly string[] | null, address: string): boolean {
  if (allowed === null || allowed.length === 0) return true;
  const parsed = parseAddress(address);
  if (!parsed) return false;
  return allowed.some((entry) => {
    const network = parseNetwork(entry);
    return network !== undefined && inNetwork(parsed, network);
  });
}
