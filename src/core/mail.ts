/**
 * The emails Keyward sends, rendered from the data queued with them. Pure: the worker
 * passes the origin links start with. A token's name, hint and application may appear;
 * its secret and its hash never do (they are not in the data to begin with).
 */

/** The emails Keyward sends. */
export const MAIL_KINDS = [
  "email_confirmation",
  "password_reset",
  "token_notice",
  "token_expiring",
] as const;
export type MailKind = (typeof MAIL_KINDS)[number];

/** What a queued email is rendered from: flat, and never a secret but a link's code. */
export type MailData = Record<string, string | number | boolean | null>;

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

/** A one-time link's lifetimes. */
export const EMAIL_CONFIRMATION_TTL_MS = 7 * 24 * 3_600_000;
export const PASSWORD_RESET_TTL_MS = 30 * 60_000;

/**
 * The link an email carries, for the page at `path`. The code goes in the fragment: a
 * browser never sends a fragment to a server, so it stays out of access logs, proxies and
 * Referer headers; the page reads it and posts it.
 */
export function linkWithCode(origin: string, path: string, code: string): string {
  return `${origin}${path}#code=${encodeURIComponent(code)}`;
}

function escapeHtml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

function text(data: MailData, key: string): string {
  const value = data[key];
  return value === undefined || value === null ? "" : String(value);
}

function isoTime(ms: string): string {
  const value = Number(ms);
  return Number.isFinite(value) && ms !== "" ? new Date(value).toISOString() : "";
}

/** Paragraphs (and at most one link) as plain text and as HTML with the same words. */
function compose(
  subject: string,
  paragraphs: readonly string[],
  link?: { label: string; url: string },
): RenderedMail {
  const textParts = [...paragraphs];
  const htmlParts = paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`);
  if (link) {
    textParts.splice(1, 0, `${link.label}: ${link.url}`);
    htmlParts.splice(
      1,
      0,
      `<p><a href="${escapeHtml(link.url)}">${escapeHtml(link.label)}</a></p>`,
      `<p style="color:#555">${escapeHtml(link.url)}</p>`,
    );
  }
  textParts.push("— Keyward");
  htmlParts.push("<p>— Keyward</p>");
  return {
    // A header line: a name with a line break in it must not start another header.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
    subject: subject.replace(/[\u0000-\u001f\u007f]+/g, " "),
    text: `${textParts.join("\n\n")}\n`,
    html: `<!doctype html><html><body style="font-family:sans-serif">${htmlParts.join("")}</body></html>`,
  };
}

const NOTICES: Record<string, { subject: string; what: string }> = {
  created: { subject: "A token was created", what: "was created" },
  regenerated: { subject: "A token was regenerated", what: "was given a new secret" },
  leaked: { subject: "A token was reported leaked", what: "was reported leaked" },
};

export function renderMail(kind: MailKind, data: MailData, origin: string): RenderedMail {
  switch (kind) {
    case "email_confirmation":
      return compose(
        "Confirm your email address",
        [
          `Confirm that ${text(data, "email")} is your address on Keyward by opening this link within 7 days.`,
          "If you did not sign up, ignore this email.",
        ],
        {
          label: "Confirm your email address",
          url: linkWithCode(origin, "/confirm-email", text(data, "code")),
        },
      );
    case "password_reset":
      return compose(
        "Reset your password",
        [
          "Someone (hopefully you) asked to reset the password of your Keyward account. The link works once, within 30 minutes; setting a new password signs you out everywhere.",
          "If you did not ask, ignore this email: your password stays as it is.",
        ],
        {
          label: "Set a new password",
          url: linkWithCode(origin, "/reset-password", text(data, "code")),
        },
      );
    case "token_notice": {
      const notice = NOTICES[text(data, "event")] ?? {
        subject: "A token changed",
        what: "changed",
      };
      const paragraphs = [
        `Your token "${text(data, "tokenName")}" (…${text(data, "hint")}) in ${text(data, "applicationName")} ${notice.what} at ${isoTime(text(data, "at"))}.`,
      ];
      if (text(data, "event") === "leaked") {
        paragraphs.push(
          data.revoked === true
            ? "It was revoked: create a new token where it was used."
            : "Its old secret stopped working; the current one still works.",
        );
      }
      paragraphs.push(
        "If this was not you or someone you expected, revoke the token and tell your application's owner.",
      );
      return compose(notice.subject, paragraphs, {
        label: "Open Keyward",
        url: `${origin}/app/${encodeURIComponent(text(data, "applicationId"))}/account-management`,
      });
    }
    case "token_expiring":
      return compose(
        `Your token "${text(data, "tokenName")}" expires soon`,
        [
          `Your token "${text(data, "tokenName")}" (…${text(data, "hint")}) in ${text(data, "applicationName")} expires at ${isoTime(text(data, "expiresAt"))}.`,
          "Create a new one before then wherever it is used.",
        ],
        {
          label: "Open Keyward",
          url: `${origin}/app/${encodeURIComponent(text(data, "applicationId"))}/account-management`,
        },
      );
  }
}
