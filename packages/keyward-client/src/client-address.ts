// The check an adapter makes of a request's client address before it is sent to Keyward.
// Keyward answers 400 to a `clientAddress` that is not an IP address, which would reach the
// host's callers as a 500: a client could cause one at will (`X-Forwarded-For: 1.2.3.4,`),
// each distinct value a call to Keyward of its own. The syntax is that of Node's
// `net.isIP`, written out rather than imported so that the adapters still load on
// runtimes without `node:net` (as token-format.ts does for node:zlib); the tests hold
// the two to the same answers.

/** The most characters Keyward takes in a `clientAddress` (its verify body's schema). */
const MAX_CLIENT_ADDRESS_LENGTH = 64;

const IPV4 =
  /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/;
const IPV6_GROUP = /^[0-9a-fA-F]{1,4}$/;
/** An interface name after a link-local IPv6 address (`fe80::1%eth0`), as Keyward takes it. */
const IPV6_ZONE = /^%[\w.-]{1,64}$/;

/** An IPv6 address in its text form (RFC 4291 section 2.2), without a zone. */
function isIpv6(text: string): boolean {
  const lastColon = text.lastIndexOf(":");
  if (lastColon === -1) return false;
  // An IPv4 address may stand for the last two groups (`::ffff:192.0.2.1`).
  let groups = text;
  if (text.includes(".")) {
    if (!IPV4.test(text.slice(lastColon + 1))) return false;
    groups = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = groups.split("::");
  if (halves.length > 2) return false;
  const [left = "", right = ""] = halves;
  const written = [
    ...(left === "" ? [] : left.split(":")),
    ...(right === "" ? [] : right.split(":")),
  ];
  // Without "::", all eight groups; with it, "::" stands for one group or more.
  if (halves.length === 1 ? written.length !== 8 : written.length > 7) return false;
  return written.every((group) => IPV6_GROUP.test(group));
}

/**
 * The address to send for what a `clientAddress` function returned: `value` without its
 * surrounding whitespace, when that is an IPv4 or IPv6 address (an IPv6 one may name its
 * interface, as Node gives a link-local client's: `fe80::1%eth0`); undefined otherwise.
 */
export function clientAddressToSend(value: string): string | undefined {
  const text = value.trim();
  if (text.length > MAX_CLIENT_ADDRESS_LENGTH) return undefined;
  if (IPV4.test(text)) return text;
  // Checked on every request a host's API serves, cached answers too: an IPv6 client's
  // address is worked out once (its groups split and counted), then remembered.
  if (recentIpv6.has(text)) return text;
  const zoneAt = text.indexOf("%");
  const valid =
    zoneAt === -1
      ? isIpv6(text)
      : IPV6_ZONE.test(text.slice(zoneAt)) && isIpv6(text.slice(0, zoneAt));
  if (!valid) return undefined;
  if (recentIpv6.size >= RECENT_IPV6) recentIpv6.clear();
  recentIpv6.add(text);
  return text;
}

/** IPv6 addresses accepted lately; cleared whole when full (a client's address repeats). */
const RECENT_IPV6 = 4096;
const recentIpv6 = new Set<string>();
