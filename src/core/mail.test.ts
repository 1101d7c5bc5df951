import { describe, expect, it } from "vitest";
import { renderMail } from "./mail.js";

const origin = "https://keys.example.com";

describe("renderMail", () => {
  it("a reset email links to the reset page with the code in the fragment, in text and HTML", () => {
    const mail = renderMail("password_reset", { code: "abc123" }, origin);
    expect(mail.subject).toBe("Reset your password");
    expect(mail.text).toContain("https://keys.example.com/reset-password#code=abc123");
    expect(mail.html).toContain('href="https://keys.example.com/reset-password#code=abc123"');
    expect(mail.text).toContain("30 minutes");
  });

  it("a hostile token name is text in the HTML and one line in the subject", () => {
    const mail = renderMail(
      "token_expiring",
      {
        tokenName: "<img src=x onerror=alert(1)>\r\nBcc: x@evil.example",
        hint: "kw_…abcd",
        applicationId: "app_1",
        applicationName: "Pay & <Go>",
        expiresAt: Date.UTC(2030, 0, 1),
      },
      origin,
    );
    expect(mail.html).not.toContain("<img");
    expect(mail.html).toContain("&lt;img src=x onerror=alert(1)&gt;");
    expect(mail.html).toContain("Pay &amp; &lt;Go&gt;");
    expect(mail.subject).not.toMatch(/[\r\n]/);
    expect(mail.text).toContain("2030-01-01T00:00:00.000Z");
  });

  it("a leak notice says whether the token was revoked or only its old secret ended", () => {
    const base = { event: "leaked", tokenName: "ci", hint: "kw_…abcd", applicationId: "app_1" };
    expect(renderMail("token_notice", { ...base, revoked: true }, origin).text).toContain(
      "It was revoked",
    );
    expect(renderMail("token_notice", { ...base, revoked: false }, origin).text).toContain(
      "old secret stopped working",
    );
  });
});
