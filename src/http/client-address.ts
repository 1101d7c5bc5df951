import { Address6 } from "ip-address";
import { parseAddress } from "../core/addresses.js";
import { KeywardError } from "../core/errors.js";

/**
 * The client address a per-address limit counts: an IPv4 address as it is (an IPv4-mapped
 * IPv6 address as its IPv4 one); an IPv6 address by its /64 network. A subscriber or a
 * host is usually given a /64 whole (RFC 6177), so counting each of its 2^64 addresses
 * apart would give whoever holds one fresh limits at will. @fastify/rate-limit counts its
 * own per-route limits the same way.
 */
export function limitAddress(ip: string): string {
  if (!ip.includes(":")) return ip;
  // Asked on every request to the protected API: an IPv6 client's key is worked out once.
  let key = recentIpv6Keys.get(ip);
  if (key === undefined) {
    key = ipv6LimitAddress(ip);
    if (recentIpv6Keys.size >= RECENT_IPV6_KEYS) recentIpv6Keys.clear();
    recentIpv6Keys.set(ip, key);
  }
  return key;
}

const RECENT_IPV6_KEYS = 4096;
const recentIpv6Keys = new Map<string, string>();

function ipv6LimitAddress(ip: string): string {
  try {
    const address = new Address6(ip);
    if (address.isMapped4()) return address.to4().correctForm();
    return `${new Address6(`${address.correctForm()}/64`).startAddress().correctForm()}/64`;
  } catch {
    // Not an address (it always is, from Node's socket or a trusted proxy): as given.
    return ip;
  }
}

/**
 * The address a verification is checked against: the `clientAddress` a calling service
 * names for its own client (which must then be an IPv4 or IPv6 address: it is what an
 * address allowlist is matched against, and what the audit trail records of a refusal),
 * else the caller's own.
 */
export function verifiedClientAddress(given: string | undefined, caller: string): string {
  if (given === undefined) return caller;
  // A link-local IPv6 address as Node gives it names its interface (`fe80::1%eth0`), and
  // the client library's adapters pass a request's address on as it is: the address
  // without its interface is what is checked and matched.
  const zone = given.includes("%") ? /%[\w.-]{1,64}$/.exec(given) : null;
  const address = zone === null ? given : given.slice(0, zone.index);
  if (parseAddress(address) === undefined)
    throw new KeywardError(
      "validation_failed",
      "body: clientAddress must be an IPv4 or IPv6 address",
    );
  return address;
}
