import { type Static, Type } from "typebox";
import { AUDIT_ACTIONS } from "../core/model.js";
import { ApplicationParams } from "./applications.js";
import { routeGroup } from "./route.js";
import { DigitString, Id, NullableString, StringEnum, Timestamp } from "./schema.js";

const auditRoute = routeGroup({ tag: "audit", auth: "session" });

export const AuditAction = StringEnum(AUDIT_ACTIONS);
export type AuditAction = Static<typeof AuditAction>;

export const AuditEvent = Type.Object({
  id: Type.String(),
  action: AuditAction,
  createdAt: Timestamp,
  actor: Type.Unsafe<{ id: string; email: string | null; name?: string | null } | null>({
    type: ["object", "null"],
    properties: {
      id: { type: "string" },
      email: { type: ["string", "null"] },
      name: {
        type: ["string", "null"],
        description: 'An actor without an email: `service key "<name>"`, or a host user\'s id.',
      },
    },
    required: ["id", "email"],
    description: "Who did it; null when nobody was signed in (a leak report, a failed sign-in).",
  }),
  userId: NullableString({ description: "The user the event is about." }),
  tokenId: NullableString(),
  tokenName: NullableString(),
  reason: NullableString(),
  detail: Type.Record(
    Type.String(),
    Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]),
  ),
  ip: NullableString(),
});
export type AuditEvent = Static<typeof AuditEvent>;

export const AuditPage = Type.Object({
  events: Type.Array(AuditEvent, { description: "Newest first." }),
  nextBefore: NullableString({
    description: "Pass as `before` for the next page; null at the end.",
  }),
  total: Type.Integer({
    description: "How many events match the filters, over all pages.",
  }),
});
export type AuditPage = Static<typeof AuditPage>;

const pagination = {
  before: Type.Optional(Type.String({ maxLength: 64 })),
  limit: Type.Optional(DigitString(6)),
};

export const applicationAuditRoute = auditRoute({
  method: "GET",
  url: "/api/v1/applications/:appId/audit",
  operationId: "listApplicationAudit",
  summary: "An application's audit trail (members see their own tokens' events)",
  schema: {
    params: ApplicationParams,
    querystring: Type.Object(
      {
        ...pagination,
        tokenId: Type.Optional(Id("tok")),
        action: Type.Optional(AuditAction),
        q: Type.Optional(
          Type.String({
            maxLength: 100,
            description: "Text found, ignoring case, in the actor's email or the token's name.",
          }),
        ),
      },
      { additionalProperties: false },
    ),
    response: { 200: AuditPage },
  },
  errors: ["not_found"],
});

export const accountAuditRoute = auditRoute({
  method: "GET",
  url: "/api/v1/me/audit",
  operationId: "listAccountAudit",
  summary: "The signed-in user's own account events (sign-ins, sign-up)",
  schema: {
    querystring: Type.Object(pagination, { additionalProperties: false }),
    response: { 200: AuditPage },
  },
});

export const auditRoutes = [applicationAuditRoute, accountAuditRoute] as const;
