import { createTransport } from "nodemailer";
import type { MailSender } from "../services/mail-dispatcher.js";

/** nodemailer's error fields that say what went wrong without saying what was sent. */
interface SmtpError {
  code?: unknown;
  responseCode?: unknown;
  command?: unknown;
  message?: unknown;
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/**
 * Sends through the SMTP server of `SMTP_URL` (nodemailer: TLS from the start on smtps://;
 * credentials from the URL's user part). On smtp:// STARTTLS is required, not just used when
 * offered: someone on the path could strip the offer and read the password and every reset
 * link. Only a relay on this machine (a loopback host) may go without it.
 */
export function createMailSender(options: { smtpUrl: string; from: string }): MailSender {
  const url = new URL(options.smtpUrl);
  const transport = createTransport({
    url: options.smtpUrl,
    requireTLS: url.protocol === "smtp:" && !LOOPBACK_HOSTS.has(url.hostname),
    // An attempt ends within about 40 s, well inside the dispatcher's claim.
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  });
  return {
    async send(message) {
      try {
        await transport.sendMail({
          from: options.from,
          to: message.to,
          subject: message.subject,
          text: message.text,
          html: message.html,
        });
        return { ok: true };
      } catch (caught) {
        const error = (caught ?? {}) as SmtpError;
        const responseCode = typeof error.responseCode === "number" ? error.responseCode : null;
        // The error's text is the server's answer or a socket error: it names no credential
        // (nodemailer keeps the URL's password out of it) and no part of the message.
        const text = [
          typeof error.code === "string" ? error.code : "",
          responseCode === null ? "" : String(responseCode),
          typeof error.message === "string" ? error.message : "",
        ]
          .filter(Boolean)
          .join(" ")
          .slice(0, 300);
        // 5xx: the server refused for good (no such mailbox, relaying denied).
        return {
          ok: false,
          error: text || "sending failed",
          permanent: responseCode !== null && responseCode >= 500,
        };
      }
    },
  };
}
