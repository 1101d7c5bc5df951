import { type Static, Type } from "typebox";
import { MAX_ALLOWED_ADDRESSES } from "../core/addresses.js";
import { REVOCATION_REASONS, TOKEN_STATUSES } from "../core/model.js";
import { MAX_GRACE_SECONDS, MAX_USAGE_DAYS, MAX_USAGE_TOKEN_IDS } from "../core/rules.js";
import { ApplicationParams, ScopesInput } from "./applications.js";
import { routeGroup } from "./route.js";
import {
  DigitString,
  Id,
  NullableString,
  NullableTimestamp,
  StringEnum,
  Timestamp,
} from "./schema.js";

const tokenRoute = routeGroup({ tag: "tokens", auth: "session" });

/** Up to 20 IPv4/IPv6 addresses or CIDRs; the services check each one. */
export const AllowedAddressesInput = Type.Array(Type.String({ maxLength: 64 }), {
  maxItems: MAX_ALLOWED_ADDRESSES,
});

export const TokenStatus = StringEnum(TOKEN_STATUSES);
export type TokenStatus = Static<typeof TokenStatus>;

export const ApiToken = Type.Object({
  id: Id("tok"),
  name: Type.String(),
  hint: Type.String({ description: "The prefix and last characters, to recognise the token." }),
  scopes: Type.Array(Type.String()),
  createdAt: Timestamp,
  expiresAt: NullableTimestamp,
  lastUsedAt: NullableTimestamp,
  revokedAt: NullableTimestamp,
  status: TokenStatus,
  revokedReason: Type.Unsafe<(typeof REVOCATION_REASONS)[number] | null>({
    type: ["string", "null"],
    enum: [...REVOCATION_REASONS, null],
    description: "Why it was revoked.",
  }),
  refusedCount: Type.Integer({
    description: "Times it was presented after it was revoked or expired.",
  }),
  lastRefusedAt: NullableTimestamp,
  exposedAt: NullableString({
    format: "date-time",
    description: "When it was first sent over plain HTTP from a remote client; regenerate it.",
  }),
  allowedAddresses: Type.Array(Type.String(), {
    description:
      "Addresses and CIDRs it is accepted from (refused like an invalid token from any " +
      "other); empty: any address.",
  }),
  owner: Type.Optional(
    Type.Object(
      { id: Id("usr"), email: Type.String() },
      { description: "Present in `?all=1` listings and on a single token." },
    ),
  ),
});
export type ApiToken = Static<typeof ApiToken>;

export const IssuedToken = Type.Object({
  token: Type.String({ description: "The plaintext token. It is in this one response only." }),
  apiToken: ApiToken,
});
export type IssuedToken = Static<typeof IssuedToken>;

export const TokenList = Type.Object({ tokens: Type.Array(ApiToken) });
export type TokenList = Static<typeof TokenList>;

export const TokenUsage = Type.Object({
  total: Type.Integer(),
  lastUsedAt: NullableTimestamp,
  daily: Type.Array(
    Type.Object({ date: Type.String({ format: "date" }), requests: Type.Integer() }),
    { description: "One entry per UTC day, oldest first." },
  ),
});
export type TokenUsage = Static<typeof TokenUsage>;

export const TokensUsage = Type.Object({
  tokens: Type.Array(
    Type.Object({
      tokenId: Id("tok"),
      total: Type.Integer({ description: "Requests since the token was created." }),
      daily: TokenUsage.properties.daily,
    }),
    { description: "One entry per token asked for that the caller may see, in the order asked." },
  ),
});
export type TokensUsage = Static<typeof TokensUsage>;

export const TokenParams = Type.Object({ appId: Id("app"), tokenId: Id("tok") });

const NO_STORE = "The answer carries `Cache-Control: no-store`.";

/** What a new token is made from: by its owner, or by a host for one of its users. */
export const NewTokenBody = Type.Object(
  {
    name: Type.String({ maxLength: 400, description: "1-100 characters after trimming." }),
    scopes: Type.Optional(ScopesInput),
    expiresAt: Type.Optional(NullableString({ format: "date-time" })),
    allowedAddresses: Type.Optional(AllowedAddressesInput),
  },
  { additionalProperties: false },
);

export const createTokenRoute = tokenRoute({
  method: "POST",
  url: "/api/v1/applications/:appId/tokens",
  operationId: "createToken",
  summary: "Generate a named token; its plaintext is shown once",
  description: NO_STORE,
  rateLimited: true,
  schema: {
    params: ApplicationParams,
    body: NewTokenBody,
    response: { 201: IssuedToken },
  },
  errors: ["not_found", "token_name_taken", "token_limit_reached", "policy_violation"],
});

export const updateTokenRoute = tokenRoute({
  method: "PATCH",
  url: "/api/v1/applications/:appId/tokens/:tokenId",
  operationId: "updateToken",
  summary: "Set where a token is accepted from (its owner)",
  schema: {
    params: Type.Object({ appId: Id("app"), tokenId: Id("tok") }),
    body: Type.Object({ allowedAddresses: AllowedAddressesInput }, { additionalProperties: false }),
    response: { 200: ApiToken },
  },
  errors: ["not_found", "forbidden"],
});

export const listTokensRoute = tokenRoute({
  method: "GET",
  url: "/api/v1/applications/:appId/tokens",
  operationId: "listTokens",
  summary: "The caller's tokens, or with `all=1` everyone's (owners and admins)",
  schema: {
    params: ApplicationParams,
    querystring: Type.Object(
      { all: Type.Optional(StringEnum(["0", "1", "true", "false"] as const)) },
      { additionalProperties: false },
    ),
    response: { 200: TokenList },
  },
  errors: ["not_found", "forbidden"],
});

export const getTokenRoute = tokenRoute({
  method: "GET",
  url: "/api/v1/applications/:appId/tokens/:tokenId",
  operationId: "getToken",
  summary: "One token, with its owner",
  schema: { params: TokenParams, response: { 200: ApiToken } },
  errors: ["not_found"],
});

export const revokeTokenRoute = tokenRoute({
  method: "DELETE",
  url: "/api/v1/applications/:appId/tokens/:tokenId",
  operationId: "revokeToken",
  summary: "Revoke a token; it is refused from the next request on",
  schema: { params: TokenParams, response: { 204: Type.Null() } },
  errors: ["not_found"],
});

export const regenerateTokenRoute = tokenRoute({
  method: "POST",
  url: "/api/v1/applications/:appId/tokens/:tokenId/regenerate",
  operationId: "regenerateToken",
  summary: "Give a token a new secret (same id and name)",
  description: `The old secret stops at once, or after \`graceSeconds\`. ${NO_STORE}`,
  schema: {
    params: TokenParams,
    // No body, `null` and `{}` all mean "no grace period".
    body: Type.Unsafe<{ graceSeconds?: number } | null | undefined>({
      type: ["object", "null"],
      additionalProperties: false,
      properties: { graceSeconds: { type: "integer", minimum: 0, maximum: MAX_GRACE_SECONDS } },
    }),
    response: { 201: IssuedToken },
  },
  errors: ["not_found", "forbidden", "token_not_active", "policy_violation"],
});

export const tokenUsageRoute = tokenRoute({
  method: "GET",
  url: "/api/v1/applications/:appId/tokens/:tokenId/usage",
  operationId: "getTokenUsage",
  summary: "Requests per day",
  description: `\`days\` is 1-${MAX_USAGE_DAYS}, 30 when absent.`,
  schema: {
    params: TokenParams,
    querystring: Type.Object(
      { days: Type.Optional(DigitString(3)) },
      { additionalProperties: false },
    ),
    response: { 200: TokenUsage },
  },
  errors: ["not_found"],
});

export const applicationUsageRoute = tokenRoute({
  method: "GET",
  url: "/api/v1/applications/:appId/usage",
  operationId: "listTokensUsage",
  summary: "Requests per day of many tokens in one request (a page of the token list)",
  description: `\`days\` is 1-${MAX_USAGE_DAYS}, 30 when absent. \`tokenIds\` names up to ${MAX_USAGE_TOKEN_IDS} tokens, comma-separated; ids the caller may not see, or that do not exist, are left out. Without it: the caller's tokens, or with \`all=1\` everyone's (owners and admins).`,
  schema: {
    params: ApplicationParams,
    querystring: Type.Object(
      {
        days: Type.Optional(DigitString(3)),
        all: Type.Optional(StringEnum(["0", "1", "true", "false"] as const)),
        tokenIds: Type.Optional(
          Type.String({
            maxLength: MAX_USAGE_TOKEN_IDS * 25,
            pattern: "^tok_[0-9A-Za-z]{20}(,tok_[0-9A-Za-z]{20})*$",
          }),
        ),
      },
      { additionalProperties: false },
    ),
    response: { 200: TokensUsage },
  },
  errors: ["not_found", "forbidden"],
});

export const tokenRoutes = [
  createTokenRoute,
  listTokensRoute,
  getTokenRoute,
  updateTokenRoute,
  revokeTokenRoute,
  regenerateTokenRoute,
  tokenUsageRoute,
  applicationUsageRoute,
] as const;
