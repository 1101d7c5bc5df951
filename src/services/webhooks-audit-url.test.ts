import { describe, expect, it } from "vitest";
import { auditableUrl } from "./webhooks.js";

describe("a webhook's URL in the audit trail", () => {
  it("keeps scheme, host and path, never a user part, query or fragment", () => {
    expect(auditableUrl("https://user:secret@hooks.example.com:8443/in?token=abc#x")).toBe(
      "https://hooks.example.com:8443/in",
    );
    expect(auditableUrl("https://hooks.example.com/keyward")).toBe(
      "https://hooks.example.com/keyward",
    );
  });
});
