import { describe, expect, it } from "vitest";
import { limitAddress } from "./client-address.js";

describe("limitAddress", () => {
  it("counts an IPv6 client by its /64, however the address is written", () => {
    expect(limitAddress("2001:db8:1:2::1")).toBe("2001:db8:1:2::/64");
    expect(limitAddress("2001:db8:1:2:ffff:ffff:ffff:ffff")).toBe("2001:db8:1:2::/64");
    expect(limitAddress("2001:0DB8:0001:0002:0000:0000:0000:0009")).toBe("2001:db8:1:2::/64");
    expect(limitAddress("2001:db8:1:3::1")).toBe("2001:db8:1:3::/64");
    expect(limitAddress("::1")).toBe("::/64");
  });

  it("keeps IPv4 as it is, and reads an IPv4-mapped IPv6 address as its IPv4 one", () => {
    expect(limitAddress("203.0.113.7")).toBe("203.0.113.7");
    expect(limitAddress("::ffff:203.0.113.7")).toBe("203.0.113.7");
  });

  it("leaves what is not an address as it is", () => {
    expect(limitAddress("not:an:address:at:all:zz")).toBe("not:an:address:at:all:zz");
  });
});
