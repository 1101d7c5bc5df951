import { afterEach, describe, expect, it } from "vitest";
import { SmtpInbox } from "../test-support/smtp-inbox.js";
import { createMailSender } from "./mail-sender.js";

const message = { to: "ann@example.com", subject: "Reset", text: "a link", html: "<p>a link</p>" };

describe("the SMTP sender", () => {
  const inbox = new SmtpInbox();
  afterEach(() => inbox.stop());

  it("on smtp:// to another host, sends nothing to a server that does not offer STARTTLS", async () => {
    // 127.0.0.2 is this machine, but not a name the sender treats as a local relay.
    await inbox.start(0, "127.0.0.2");
    const sender = createMailSender({ smtpUrl: inbox.url, from: "keys@example.com" });
    const result = await sender.send(message);
    expect(result.ok).toBe(false);
    expect(inbox.messages).toEqual([]);
  });

  it("on smtp:// to a loopback relay, sends without TLS", async () => {
    await inbox.start(0, "127.0.0.1");
    const sender = createMailSender({ smtpUrl: inbox.url, from: "keys@example.com" });
    expect(await sender.send(message)).toEqual({ ok: true });
    expect(inbox.to("ann@example.com")).toHaveLength(1);
  });
});
