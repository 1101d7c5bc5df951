import { BlockList, isIP } from "node:net";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isAddressAllowed, normalizeAllowedAddresses, parseAddress } from "./addresses.js";

describe("address allowlists", () => {
  it("match IPv4 CIDRs exactly as node:net's BlockList does", () => {
    fc.assert(
      fc.property(
        fc.ipV4(),
        fc.ipV4(),
        fc.integer({ min: 0, max: 32 }),
        (address, base, prefix) => {
          const list = new BlockList();
          list.addSubnet(base, prefix, "ipv4");
          expect(isAddressAllowed([`${base}/${prefix}`], address)).toBe(
            list.check(address, "ipv4"),
          );
        },
      ),
    );
  });

  it("match IPv6 CIDRs exactly as node:net's BlockList does", () => {
    fc.assert(
      fc.property(
        fc.ipV6(),
        fc.ipV6(),
        fc.integer({ min: 0, max: 128 }),
        (address, base, prefix) => {
          fc.pre(isIP(address) === 6 && isIP(base) === 6);
          const list = new BlockList();
          list.addSubnet(base, prefix, "ipv6");
          const mapped = (text: string) => parseAddress(text)?.length === 4;
          fc.pre(!mapped(address) && !mapped(base));
          expect(isAddressAllowed([`${base}/${prefix}`], address)).toBe(
            list.check(address, "ipv6"),
          );
        },
      ),
    );
  });

  it("treat IPv4-mapped IPv6 clients as their IPv4 address", () => {
    expect(isAddressAllowed(["203.0.113.0/24"], "::ffff:203.0.113.9")).toBe(true);
    expect(isAddressAllowed(["203.0.113.7"], "203.0.113.8")).toBe(false);
    expect(isAddressAllowed([], "203.0.113.8")).toBe(true);
    expect(isAddressAllowed(null, "::1")).toBe(true);
  });

  it("refuse what is not an address or CIDR, and more than 20 entries", () => {
    for (const bad of [
      "",
      "1.2.3",
      "1.2.3.4/33",
      "::1/129",
      "10.0.0.0/8/8",
      "example.com",
      "01.2.3.4",
    ]) {
      expect(() => normalizeAllowedAddresses([bad]), bad).toThrow();
    }
    const many = Array.from({ length: 21 }, (_, i) => `10.0.0.${i}`);
    expect(() => normalizeAllowedAddresses(many)).toThrow();
    expect(normalizeAllowedAddresses([" 10.0.0.0/8 ", "10.0.0.0/8", "2001:db8::/32"])).toEqual([
      "10.0.0.0/8",
      "2001:db8::/32",
    ]);
  });
});
