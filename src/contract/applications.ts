import { type Static, Type } from "typebox";
import { ROLES } from "../core/model.js";
import { MAX_POLICY_DAYS } from "../core/policy.js";
import { MAX_RETURN_ORIGINS, MAX_SCOPES } from "../core/rules.js";
import { routeGroup } from "./route.js";
import { Id, StringEnum, Timestamp } from "./schema.js";

const applicationRoute = routeGroup({ tag: "applications", auth: "session" });

export const Role = StringEnum(ROLES);
export type Role = Static<typeof Role>;

/** An application as its list shows it: what it is and the caller's role in it. */
export const ApplicationSummary = Type.Object({
  id: Id("app"),
  name: Type.String(),
  role: Role,
});
export type ApplicationSummary = Static<typeof ApplicationSummary>;

/** How the account page greets a host's users. */
export const Branding = Type.Object(
  {
    displayName: Type.String({ maxLength: 400, description: "1-100 characters after trimming." }),
    accentColor: Type.String({ pattern: "^#[0-9a-fA-F]{6}$", description: "`#rrggbb`." }),
  },
  // Also the request's shape (PATCH): an unknown field is refused, never dropped.
  { additionalProperties: false },
);
export type Branding = Static<typeof Branding>;

/** Limits an owner or admin puts on the application's tokens; null: none. */
export const TokenPolicy = Type.Object({
  maxLifetimeDays: Type.Union(
    [Type.Integer({ minimum: 1, maximum: MAX_POLICY_DAYS }), Type.Null()],
    {
      description:
        "Every new or regenerated token must carry an `expiresAt` within this many days (else 400 `policy_violation`).",
    },
  ),
  revokeUnusedAfterDays: Type.Union(
    [Type.Integer({ minimum: 1, maximum: MAX_POLICY_DAYS }), Type.Null()],
    {
      description:
        "An active token not used for this many days (or never used since its creation that long ago) is revoked with reason `policy`, within an hour.",
    },
  ),
});
export type TokenPolicy = Static<typeof TokenPolicy>;

export const Application = Type.Object({
  id: Id("app"),
  name: Type.String(),
  role: Role,
  scopes: Type.Array(Type.String(), {
    description: "The scopes tokens of this application may carry; empty means free-form.",
  }),
  returnOrigins: Type.Array(Type.String(), {
    description: "Origins (`https://app.example.com`) a portal session's `returnUrl` may point to.",
  }),
  branding: Type.Union([Branding, Type.Null()], {
    description: "Shown to the host's users on their account page.",
  }),
  policy: TokenPolicy,
});
export type Application = Static<typeof Application>;

export const ApplicationList = Type.Object({ applications: Type.Array(ApplicationSummary) });
export type ApplicationList = Static<typeof ApplicationList>;

export const Member = Type.Object({
  userId: Id("usr"),
  email: Type.String(),
  name: Type.String(),
  role: Role,
  joinedAt: Timestamp,
});
export type Member = Static<typeof Member>;

export const MemberList = Type.Object({ members: Type.Array(Member) });
export type MemberList = Static<typeof MemberList>;

/** Scopes as sent by a client; the services check each against the scope rule. */
export const ScopesInput = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
  maxItems: MAX_SCOPES,
});

export const ApplicationParams = Type.Object({ appId: Id("app") });

export const createApplicationRoute = applicationRoute({
  method: "POST",
  url: "/api/v1/applications",
  operationId: "createApplication",
  summary: "Create an application (the caller becomes its owner)",
  schema: {
    body: Type.Object(
      { name: Type.String({ maxLength: 400 }), scopes: Type.Optional(ScopesInput) },
      { additionalProperties: false },
    ),
    response: { 201: Application },
  },
});

export const listApplicationsRoute = applicationRoute({
  method: "GET",
  url: "/api/v1/applications",
  operationId: "listApplications",
  summary: "Applications the caller belongs to",
  schema: { response: { 200: ApplicationList } },
});

export const getApplicationRoute = applicationRoute({
  method: "GET",
  url: "/api/v1/applications/:appId",
  operationId: "getApplication",
  summary: "One application",
  schema: { params: ApplicationParams, response: { 200: Application } },
  errors: ["not_found"],
});

export const updateApplicationRoute = applicationRoute({
  method: "PATCH",
  url: "/api/v1/applications/:appId",
  operationId: "updateApplication",
  summary: "Set the return origins, branding and token policy (owners and admins)",
  description:
    "Absent fields keep their value (in `policy` too; `null` there removes a limit); " +
    "`branding: null` removes the branding. An origin is " +
    "a scheme, host and optional port, nothing else (`https://app.example.com`).",
  schema: {
    params: ApplicationParams,
    body: Type.Object(
      {
        returnOrigins: Type.Optional(
          Type.Array(Type.String({ maxLength: 2048 }), { maxItems: MAX_RETURN_ORIGINS }),
        ),
        branding: Type.Optional(Type.Union([Branding, Type.Null()])),
        policy: Type.Optional(Type.Partial(TokenPolicy, { additionalProperties: false })),
      },
      { additionalProperties: false },
    ),
    response: { 200: Application },
  },
  errors: ["not_found", "forbidden", "reauthentication_required"],
});

export const listMembersRoute = applicationRoute({
  method: "GET",
  url: "/api/v1/applications/:appId/members",
  operationId: "listMembers",
  summary: "Members of an application",
  schema: { params: ApplicationParams, response: { 200: MemberList } },
  errors: ["not_found"],
});

export const Invitation = Type.Object({
  id: Id("inv"),
  email: Type.String(),
  role: StringEnum(["admin", "member"] as const),
  createdAt: Timestamp,
  expiresAt: Timestamp,
});
export type Invitation = Static<typeof Invitation>;

export const ReceivedInvitation = Type.Object({
  id: Id("inv"),
  applicationId: Id("app"),
  applicationName: Type.String(),
  inviterEmail: Type.String(),
  role: StringEnum(["admin", "member"] as const),
  createdAt: Timestamp,
  expiresAt: Timestamp,
});
export type ReceivedInvitation = Static<typeof ReceivedInvitation>;

const InvitationParams = Type.Object({ appId: Id("app"), invitationId: Id("inv") });

export const addMemberRoute = applicationRoute({
  method: "POST",
  url: "/api/v1/applications/:appId/members",
  operationId: "addMember",
  summary: "Invite someone, by email, as an admin or member (owners and admins)",
  description:
    "Makes nobody a member: the invitee accepts it (7 days) from their applications page. " +
    "The answer is the same whether or not an account has that email. Inviting an admin " +
    "needs a recent sign-in.",
  schema: {
    params: ApplicationParams,
    body: Type.Object(
      { email: Type.String({ maxLength: 254 }), role: StringEnum(["admin", "member"] as const) },
      { additionalProperties: false },
    ),
    response: { 201: Type.Object({ invitation: Invitation }) },
  },
  errors: ["not_found", "forbidden", "already_member", "reauthentication_required"],
});

export const listInvitationsRoute = applicationRoute({
  method: "GET",
  url: "/api/v1/applications/:appId/invitations",
  operationId: "listInvitations",
  summary: "Pending invitations (owners and admins)",
  schema: {
    params: ApplicationParams,
    response: { 200: Type.Object({ invitations: Type.Array(Invitation) }) },
  },
  errors: ["not_found", "forbidden"],
});

export const withdrawInvitationRoute = applicationRoute({
  method: "DELETE",
  url: "/api/v1/applications/:appId/invitations/:invitationId",
  operationId: "withdrawInvitation",
  summary: "Withdraw a pending invitation (owners and admins)",
  schema: { params: InvitationParams, response: { 204: Type.Null() } },
  errors: ["not_found", "forbidden"],
});

const MyInvitationParams = Type.Object({ invitationId: Id("inv") });

export const listMyInvitationsRoute = applicationRoute({
  method: "GET",
  url: "/api/v1/me/invitations",
  operationId: "listMyInvitations",
  summary: "Invitations to your email, pending",
  description:
    "Empty while this server sends email and your address is not confirmed yet: what was " +
    "sent to the address is shown to whoever confirmed it.",
  schema: { response: { 200: Type.Object({ invitations: Type.Array(ReceivedInvitation) }) } },
});

export const acceptInvitationRoute = applicationRoute({
  method: "POST",
  url: "/api/v1/me/invitations/:invitationId/accept",
  operationId: "acceptInvitation",
  summary: "Accept an invitation: you are a member from now on",
  description:
    "404 when the invitation is unknown, expired, or its inviter is no longer an owner or " +
    "admin of the application; 409 `already_member` when you are a member already (the " +
    "invitation is used up and your role does not change). When this server sends email " +
    "(SMTP_URL), the account's address must be confirmed first (403 `email_not_confirmed`); " +
    "without email nothing waits for a confirmation.",
  schema: { params: MyInvitationParams, response: { 201: ApplicationSummary } },
  errors: ["not_found", "already_member", "email_not_confirmed"],
});

export const declineInvitationRoute = applicationRoute({
  method: "POST",
  url: "/api/v1/me/invitations/:invitationId/decline",
  operationId: "declineInvitation",
  summary: "Decline an invitation",
  description:
    "As for accepting: when this server sends email, the address must be confirmed first " +
    "(403 `email_not_confirmed`).",
  schema: { params: MyInvitationParams, response: { 204: Type.Null() } },
  errors: ["not_found", "email_not_confirmed"],
});

export const removeMemberRoute = applicationRoute({
  method: "DELETE",
  url: "/api/v1/applications/:appId/members/:userId",
  operationId: "removeMember",
  summary: "Remove a member and revoke their tokens in the application",
  description: "Owners and admins remove anyone but the owner; a member may remove themselves.",
  schema: {
    params: Type.Object({ appId: Id("app"), userId: Id("usr") }),
    response: { 204: Type.Null() },
  },
  errors: ["not_found", "forbidden", "cannot_remove_owner"],
});

export const applicationRoutes = [
  createApplicationRoute,
  listApplicationsRoute,
  getApplicationRoute,
  updateApplicationRoute,
  listMembersRoute,
  addMemberRoute,
  removeMemberRoute,
  listInvitationsRoute,
  withdrawInvitationRoute,
  listMyInvitationsRoute,
  acceptInvitationRoute,
  declineInvitationRoute,
] as const;
