import type { AuditAction, AuditEvent } from "./api";
import { formatDate, plural } from "./format";

// Audit events as sentences. A sentence is a list of parts: plain text, and user-supplied
// strings (token names, emails) kept apart so they are rendered as text, in their own style.

export type SentencePart = string | { name: string } | { email: string };

/** The filter's choices, in the order they are offered. */
export const applicationActionLabels: Array<[AuditAction, string]> = [
  ["token.created", "Token created"],
  ["token.regenerated", "Token regenerated"],
  ["token.revoked", "Token revoked"],
  ["token.exposed", "Sent over plain HTTP"],
  ["member.added", "Member added"],
  ["member.removed", "Member removed"],
  ["service_key.created", "Service key created"],
  ["service_key.revoked", "Service key revoked"],
  ["host_user.created", "Host user added"],
  ["host_user.updated", "Host user updated"],
  ["host_user.removed", "Host user removed"],
  ["portal.opened", "Portal link"],
  ["application.updated", "Settings changed"],
];

export const TOKEN_ACTIONS: ReadonlySet<string> = new Set([
  "token.created",
  "token.regenerated",
  "token.revoked",
  "token.exposed",
]);

const roleWords: Record<string, string> = { owner: "owner", admin: "an admin", member: "a member" };

/** Who an event is about when the event itself does not say (emails seen in other events). */
export type KnownEmails = ReadonlyMap<string, string>;

/** user id → email, from what the loaded events reveal (actors, added members). */
export function knownEmails(events: readonly AuditEvent[]): Map<string, string> {
  const emails = new Map<string, string>();
  for (const event of events) {
    if (event.actor?.email) emails.set(event.actor.id, event.actor.email);
    const added = event.detail.email;
    if (event.action === "member.added" && event.userId && typeof added === "string") {
      emails.set(event.userId, added);
    }
  }
  return emails;
}

function tokenRef(event: AuditEvent): SentencePart[] {
  return event.tokenName === null ? ["a token"] : ["token ", { name: event.tokenName }];
}

function TokenRef(event: AuditEvent): SentencePart[] {
  return event.tokenName === null ? ["A token"] : ["Token ", { name: event.tokenName }];
}

function actorRef(event: AuditEvent): SentencePart {
  if (event.actor?.email) return { email: event.actor.email };
  // A service key (`service key "backend"`) or a host user known by the host's id.
  if (event.actor?.name) return event.actor.name;
  return "Someone";
}

function hostUserRef(event: AuditEvent): SentencePart[] {
  return typeof event.detail.externalId === "string"
    ? ["host user ", { name: event.detail.externalId }]
    : ["a host user"];
}

function graceWords(seconds: number): string {
  if (seconds <= 0) return "the old secret stopped at once";
  if (seconds % 3600 === 0)
    return `the old secret kept working ${plural(seconds / 3600, "hour", "hours")}`;
  if (seconds % 60 === 0)
    return `the old secret kept working ${plural(seconds / 60, "minute", "minutes")}`;
  return `the old secret kept working ${plural(seconds, "second", "seconds")}`;
}

const revokedBecause: Record<string, string> = {
  member_removed: ": its owner was removed from the application",
  leaked: ": reported leaked",
  policy: " by policy",
};

/** "ada@example.com revoked token “deploy” (admin)". */
export function describeEvent(event: AuditEvent, emails: KnownEmails = new Map()): SentencePart[] {
  const { detail } = event;
  switch (event.action) {
    case "token.created": {
      const parts: SentencePart[] = [actorRef(event), " created ", ...tokenRef(event)];
      if (typeof detail.scopes === "string" && detail.scopes) {
        parts.push(` with scopes ${detail.scopes.split(" ").join(", ")}`);
      }
      if (typeof detail.expiresAt === "string") {
        parts.push(`, expiring ${formatDate(new Date(detail.expiresAt))}`);
      } else if (detail.expiresAt === null) {
        parts.push(", with no expiry");
      }
      return parts;
    }
    case "token.regenerated": {
      const grace = typeof detail.graceSeconds === "number" ? detail.graceSeconds : 0;
      return [actorRef(event), " regenerated ", ...tokenRef(event), `; ${graceWords(grace)}`];
    }
    case "token.revoked": {
      if (event.reason === "user") return [actorRef(event), " revoked ", ...tokenRef(event)];
      if (event.reason === "admin") {
        return [actorRef(event), " revoked ", ...tokenRef(event), " (admin)"];
      }
      const because = event.reason ? revokedBecause[event.reason] : undefined;
      if (because) return [...TokenRef(event), ` revoked${because}`];
      return [...TokenRef(event), " revoked", event.reason ? ` (${event.reason})` : ""];
    }
    case "token.exposed":
      return [...TokenRef(event), " was sent over plain HTTP", event.ip ? ` from ${event.ip}` : ""];
    case "token.refused":
      return [
        ...TokenRef(event),
        " was refused",
        event.ip ? ` from ${event.ip}` : "",
        event.reason === "address" ? ": not one of its allowed addresses" : "",
      ];
    case "token.updated": {
      const list = typeof detail.allowedAddresses === "string" ? detail.allowedAddresses : "";
      return [
        actorRef(event),
        list ? " limited " : " allowed ",
        ...tokenRef(event),
        list ? ` to ${list.split(" ").join(", ")}` : " from any address",
      ];
    }
    case "token.secret_ended":
      return [
        ...TokenRef(event),
        event.reason === "leaked"
          ? ": its old secret was reported leaked and stopped at once; the current one still works"
          : ": its old secret stopped",
      ];
    case "member.added": {
      const role = typeof detail.role === "string" ? (roleWords[detail.role] ?? detail.role) : "";
      const who: SentencePart =
        typeof detail.email === "string" ? { email: detail.email } : "a new member";
      return [actorRef(event), " added ", who, role ? ` as ${role}` : ""];
    }
    case "member.removed": {
      const revoked = typeof detail.revokedTokens === "number" ? detail.revokedTokens : 0;
      const tail = revoked > 0 ? `; ${plural(revoked, "token", "tokens")} revoked with them` : "";
      if (event.reason === "left") return [actorRef(event), " left the application", tail];
      const email = event.userId ? emails.get(event.userId) : undefined;
      return [actorRef(event), " removed ", email ? { email } : "a member", tail];
    }
    case "service_key.created":
      return [actorRef(event), " created service key ", { name: String(detail.name ?? "") }];
    case "service_key.revoked":
      if (event.reason === "leaked") {
        return ["Service key ", { name: String(detail.name ?? "") }, " revoked: reported leaked"];
      }
      return [actorRef(event), " revoked service key ", { name: String(detail.name ?? "") }];
    case "host_user.created":
      return [actorRef(event), " added ", ...hostUserRef(event)];
    case "host_user.updated":
      return [actorRef(event), " updated ", ...hostUserRef(event)];
    case "host_user.removed": {
      const revoked = typeof detail.revokedTokens === "number" ? detail.revokedTokens : 0;
      const tail = revoked > 0 ? `; ${plural(revoked, "token", "tokens")} revoked with them` : "";
      return [actorRef(event), " removed ", ...hostUserRef(event), tail];
    }
    case "portal.opened":
      return detail.step === "signed_in"
        ? [actorRef(event), " opened their API tokens page from the host"]
        : [actorRef(event), " created a portal link for ", ...hostUserRef(event)];
    case "application.updated": {
      const changed = [
        "returnOrigins" in detail ? "return origins" : "",
        "branding" in detail ? "branding" : "",
      ].filter(Boolean);
      return [actorRef(event), ` changed the application's ${changed.join(" and ") || "settings"}`];
    }
    case "signup":
      return ["Account created"];
    case "signin.succeeded":
      return ["Signed in"];
    case "session.ended":
      return ["Signed out a session"];
    case "session.ended_others":
      return ["Signed out of all other sessions"];
    case "password.changed":
      return ["Password changed"];
    case "two_factor.enabled":
      return ["Two-factor authentication turned on"];
    case "two_factor.disabled":
      return ["Two-factor authentication turned off"];
    case "two_factor.recovery_code_used":
      return ["A recovery code was used"];
    case "password.reset":
      return ["Password reset with an emailed link; every session ended"];
    case "password.reset_link_issued":
      return ["The operator issued a password reset link"];
    case "email.confirmed":
      return ["Email address confirmed"];
    case "member.invited":
      return [
        actorRef(event),
        ` invited ${String(detail.email ?? "someone")} as ${String(detail.role ?? "member")}`,
      ];
    case "invitation.declined":
      return [`${String(detail.email ?? "Someone")} declined an invitation`];
    case "invitation.withdrawn":
      return [actorRef(event), ` withdrew the invitation of ${String(detail.email ?? "someone")}`];
    case "signin.failed":
      return [
        "Failed sign-in",
        event.reason === "wrong_password"
          ? ": wrong password"
          : event.reason === "wrong_two_factor_code"
            ? ": wrong two-factor code"
            : event.reason
              ? ` (${event.reason})`
              : "",
      ];
    default:
      return [event.action];
  }
}

/** The sentence as one string (for tests, titles and announcements). */
export function sentenceText(parts: readonly SentencePart[]): string {
  return parts
    .map((part) =>
      typeof part === "string" ? part : "name" in part ? `“${part.name}”` : part.email,
    )
    .join("");
}
