import { type Static, Type } from "typebox";
import { EXTERNAL_ID_MAX_LENGTH } from "../core/rules.js";
import { ApplicationParams } from "./applications.js";
import { routeGroup } from "./route.js";
import {
  CreatedBy,
  Id,
  NullableString,
  NullableTimestamp,
  StringEnum,
  Timestamp,
} from "./schema.js";
import { IssuedToken, NewTokenBody, TokenList } from "./tokens.js";
import { Verification } from "./verification.js";

// Keyward inside a host product: the host's backend holds a service key of its application
// and talks to Keyward under /api/v1/service/; its users are host users, mirrored by their
// own ids, who reach the account page through one-time portal links.

const serviceKeyRoute = routeGroup({ tag: "service keys", auth: "session" });
const serviceRoute = routeGroup({ tag: "service API", auth: "service" });

const NO_STORE = "The answer carries `Cache-Control: no-store`.";

export const SERVICE_KEY_STATUSES = ["active", "revoked"] as const;

export const ServiceKey = Type.Object({
  id: Id("key"),
  name: Type.String(),
  hint: Type.String({ description: "The prefix and last characters, e.g. `kwsk_…a1b2`." }),
  createdAt: Timestamp,
  lastUsedAt: NullableTimestamp,
  revokedAt: NullableTimestamp,
  status: StringEnum(SERVICE_KEY_STATUSES),
  createdBy: CreatedBy,
});
export type ServiceKey = Static<typeof ServiceKey>;

export const IssuedServiceKey = Type.Object({
  key: Type.String({ description: "The plaintext key. It is in this one response only." }),
  serviceKey: ServiceKey,
});
export type IssuedServiceKey = Static<typeof IssuedServiceKey>;

export const ServiceKeyList = Type.Object({ serviceKeys: Type.Array(ServiceKey) });
export type ServiceKeyList = Static<typeof ServiceKeyList>;

export const ServiceKeyParams = Type.Object({ appId: Id("app"), keyId: Id("key") });

export const createServiceKeyRoute = serviceKeyRoute({
  method: "POST",
  url: "/api/v1/applications/:appId/service-keys",
  operationId: "createServiceKey",
  summary: "Create a service key for the host's backend (owners and admins); shown once",
  description: NO_STORE,
  schema: {
    params: ApplicationParams,
    body: Type.Object(
      { name: Type.String({ maxLength: 400, description: "1-100 characters after trimming." }) },
      { additionalProperties: false },
    ),
    response: { 201: IssuedServiceKey },
  },
  errors: ["not_found", "forbidden", "reauthentication_required"],
});

export const listServiceKeysRoute = serviceKeyRoute({
  method: "GET",
  url: "/api/v1/applications/:appId/service-keys",
  operationId: "listServiceKeys",
  summary: "The application's service keys, newest first (owners and admins)",
  schema: { params: ApplicationParams, response: { 200: ServiceKeyList } },
  errors: ["not_found", "forbidden"],
});

export const revokeServiceKeyRoute = serviceKeyRoute({
  method: "DELETE",
  url: "/api/v1/applications/:appId/service-keys/:keyId",
  operationId: "revokeServiceKey",
  summary:
    "Revoke a service key; refused from the next request on this process, and within the revocation bound on every other; its portal links and the sessions they opened end with it",
  schema: { params: ServiceKeyParams, response: { 204: Type.Null() } },
  errors: ["not_found", "forbidden"],
});

/** A host user as the service API shows it. */
export const HostUser = Type.Object({
  id: Id("usr"),
  externalId: Type.String(),
  email: NullableString(),
  name: NullableString(),
});
export type HostUser = Static<typeof HostUser>;

export const HostUserAnswer = Type.Object({ user: HostUser });
export type HostUserAnswer = Static<typeof HostUserAnswer>;

export const ExternalIdParams = Type.Object({
  externalId: Type.String({
    minLength: 1,
    maxLength: EXTERNAL_ID_MAX_LENGTH,
    description: `The host's own id for the user: 1-${EXTERNAL_ID_MAX_LENGTH} characters, no control characters. Percent-encode it in the path.`,
  }),
});

export const upsertHostUserRoute = serviceRoute({
  method: "PUT",
  url: "/api/v1/service/users/:externalId",
  operationId: "upsertHostUser",
  summary: "Create or update a host user (201 created, 200 updated)",
  description:
    "Absent fields keep their value; `null` clears one. Host users have no password and " +
    "never reach a Keyward account that signed up by itself, whatever their email.",
  schema: {
    params: ExternalIdParams,
    body: Type.Object(
      {
        email: Type.Optional(NullableString({ maxLength: 254 })),
        name: Type.Optional(NullableString({ maxLength: 400 })),
      },
      { additionalProperties: false },
    ),
    response: { 200: HostUserAnswer, 201: HostUserAnswer },
  },
});

export const getHostUserRoute = serviceRoute({
  method: "GET",
  url: "/api/v1/service/users/:externalId",
  operationId: "getHostUser",
  summary: "One host user",
  schema: { params: ExternalIdParams, response: { 200: HostUserAnswer } },
  errors: ["user_not_found"],
});

export const removeHostUserRoute = serviceRoute({
  method: "DELETE",
  url: "/api/v1/service/users/:externalId",
  operationId: "removeHostUser",
  summary: "Remove a host user; every token of theirs is revoked in the same transaction",
  description: "Idempotent: an unknown user is 204 too.",
  schema: { params: ExternalIdParams, response: { 204: Type.Null() } },
});

export const listHostUserTokensRoute = serviceRoute({
  method: "GET",
  url: "/api/v1/service/users/:externalId/tokens",
  operationId: "listHostUserTokens",
  summary: "A host user's tokens, newest first",
  schema: { params: ExternalIdParams, response: { 200: TokenList } },
  errors: ["user_not_found"],
});

export const createHostUserTokenRoute = serviceRoute({
  method: "POST",
  url: "/api/v1/service/users/:externalId/tokens",
  operationId: "createHostUserToken",
  summary: "Generate a token for a host user (for hosts that build their own page)",
  description: NO_STORE,
  schema: {
    params: ExternalIdParams,
    body: NewTokenBody,
    response: { 201: IssuedToken },
  },
  errors: [
    "user_not_found",
    "user_disabled",
    "token_name_taken",
    "token_limit_reached",
    "policy_violation",
  ],
});

export const revokeServiceTokenRoute = serviceRoute({
  method: "DELETE",
  url: "/api/v1/service/tokens/:tokenId",
  operationId: "revokeTokenAsService",
  summary: "Revoke any token of the key's application (idempotent)",
  schema: { params: Type.Object({ tokenId: Id("tok") }), response: { 204: Type.Null() } },
  errors: ["not_found"],
});

export const ServiceVerification = Type.Object(
  {
    ...Verification.properties,
    externalId: Type.Optional(
      NullableString({ description: "The host's id of the token's user; null for accounts." }),
    ),
  },
  {
    description:
      "As `POST /api/v1/verify`, plus `externalId`: the host's id of the token's user (null " +
      "for a Keyward account). A token of another application is `{ valid: false }`.",
  },
);
export type ServiceVerification = Static<typeof ServiceVerification>;

export const serviceVerifyRoute = serviceRoute({
  method: "POST",
  url: "/api/v1/service/verify",
  operationId: "verifyTokenAsService",
  summary: "Check a token of the key's application; counts as a use",
  description:
    "A token of another application is `{ valid: false }`. Not limited per address. " +
    "`clientAddress` is the address of the host's own client, for tokens that carry an " +
    "address allowlist.",
  schema: {
    body: Type.Object(
      {
        token: Type.String({ maxLength: 256 }),
        clientAddress: Type.Optional(
          Type.String({
            maxLength: 64,
            description: "An IPv4 or IPv6 address, else 400 `validation_failed`.",
          }),
        ),
      },
      { additionalProperties: false },
    ),
    response: { 200: ServiceVerification },
  },
});

export const PortalSession = Type.Object({
  url: Type.String({ description: "`<Keyward origin>/portal/<code>`: works once." }),
  expiresAt: Timestamp,
});
export type PortalSession = Static<typeof PortalSession>;

export const createPortalSessionRoute = serviceRoute({
  method: "POST",
  url: "/api/v1/service/portal-sessions",
  operationId: "createPortalSession",
  summary: "A one-time link that signs the host user in to their account page",
  description:
    "The link works once, within 5 minutes; the session it starts lasts at most an hour " +
    "and reaches this one application only. `returnUrl` must be on one of the " +
    `application's return origins. ${NO_STORE}`,
  schema: {
    body: Type.Object(
      {
        externalId: ExternalIdParams.properties.externalId,
        returnUrl: Type.Optional(Type.String({ maxLength: 2048 })),
      },
      { additionalProperties: false },
    ),
    response: { 201: PortalSession },
  },
  errors: ["user_not_found", "user_disabled"],
});

export const revocationEventsRoute = serviceRoute({
  method: "GET",
  url: "/api/v1/service/events",
  operationId: "streamRevocations",
  summary: "The revocation stream (server-sent events)",
  description:
    "`event: token.revoked` and `event: secret.ended`, each with `data: {tokenId, at}` and " +
    "an `id:`. Reconnect with `Last-Event-ID` to get what was missed (at least the last " +
    "hour), or `event: reset` when it cannot be replayed: drop every cached answer. A " +
    "comment line comes at least every 15 s.",
  produces: "text/event-stream",
  schema: {
    response: {
      200: Type.String({ description: "A `text/event-stream` that stays open." }),
    },
  },
  errors: ["too_many_streams"],
});

export const serviceKeyRoutes = [
  createServiceKeyRoute,
  listServiceKeysRoute,
  revokeServiceKeyRoute,
] as const;

export const serviceRoutes = [
  upsertHostUserRoute,
  getHostUserRoute,
  removeHostUserRoute,
  listHostUserTokensRoute,
  createHostUserTokenRoute,
  revokeServiceTokenRoute,
  serviceVerifyRoute,
  createPortalSessionRoute,
  revocationEventsRoute,
] as const;
