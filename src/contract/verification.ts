import { type Static, Type } from "typebox";
import { MAX_LEAK_REPORT_TOKENS, SCOPE_PATTERN } from "../core/rules.js";
import { routeGroup } from "./route.js";
import { Id, NullableTimestamp } from "./schema.js";

const verificationRoute = routeGroup({ tag: "verification", auth: "none" });
const protectedApiRoute = routeGroup({ tag: "protected API", auth: "bearer" });

/** Longest string accepted where a token is expected; real tokens are far shorter. */
const TokenText = Type.String({ maxLength: 256 });

export const Verification = Type.Object(
  {
    valid: Type.Boolean(),
    code: Type.Optional(Type.String({ description: "`invalid_token` when `valid` is false." })),
    applicationId: Type.Optional(Id("app")),
    userId: Type.Optional(Id("usr")),
    tokenId: Type.Optional(Id("tok")),
    scopes: Type.Optional(Type.Array(Type.String())),
    expiresAt: Type.Optional(NullableTimestamp),
  },
  {
    description:
      "`{ valid: true, applicationId, userId, tokenId, scopes, expiresAt }`, or " +
      '`{ valid: false, code: "invalid_token" }` for every kind of invalid token.',
  },
);
export type Verification = Static<typeof Verification>;

export const verifyRoute = verificationRoute({
  method: "POST",
  url: "/api/v1/verify",
  operationId: "verifyToken",
  summary: "Check a token for another service",
  description:
    "An invalid token is a 200 answer with `valid: false`, never an error. With " +
    "`applicationId` (the audience), a token of another application is invalid too.",
  rateLimited: true,
  schema: {
    body: Type.Object(
      {
        token: TokenText,
        applicationId: Type.Optional(Id("app")),
        clientAddress: Type.Optional(
          Type.String({
            maxLength: 64,
            description:
              "The address your own client presented the token from (an IPv4 or IPv6 " +
              "address, else 400 `validation_failed`), for tokens with an address " +
              "allowlist; the caller's address when absent.",
          }),
        ),
      },
      { additionalProperties: false },
    ),
    response: { 200: Verification },
  },
});

export const LeakReceipt = Type.Object({ received: Type.Integer() });
export type LeakReceipt = Static<typeof LeakReceipt>;

export const reportLeaksRoute = verificationRoute({
  method: "POST",
  url: "/api/v1/leaks",
  operationId: "reportLeakedTokens",
  summary: "Report leaked tokens; the valid ones are revoked",
  description:
    "Public and rate-limited. The answer is the same whatever the tokens were, so a report " +
    "cannot be used to test tokens.",
  rateLimited: true,
  schema: {
    body: Type.Object(
      { tokens: Type.Array(TokenText, { minItems: 1, maxItems: MAX_LEAK_REPORT_TOKENS }) },
      { additionalProperties: false },
    ),
    response: { 202: LeakReceipt },
  },
});

/** One match GitHub's secret scanning reports (partner program format). */
export const GitHubTokenMatch = Type.Object({
  token: TokenText,
  type: Type.String({ maxLength: 200 }),
  url: Type.String({ maxLength: 2000 }),
  source: Type.String({ maxLength: 200 }),
});

export const GitHubTokenLabel = Type.Object({
  token_raw: Type.String(),
  token_type: Type.String(),
  label: Type.Union([Type.Literal("true_positive"), Type.Literal("false_positive")]),
});

export const reportGitHubLeaksRoute = verificationRoute({
  method: "POST",
  url: "/api/v1/leaks/github",
  operationId: "reportGitHubSecretScanningMatches",
  summary: "GitHub secret scanning (partner program): revoke the reported tokens",
  description:
    "The same as `POST /api/v1/leaks`, in GitHub's format: a JSON array of matches, signed " +
    "with ECDSA P-256 (SHA-256) over the raw body (`Github-Public-Key-Identifier`, " +
    "`Github-Public-Key-Signature`), checked against the public keys the operator configured " +
    "(`GITHUB_SECRET_SCANNING_KEYS` or `GITHUB_SECRET_SCANNING_KEYS_FILE`). Answers each " +
    "match with `true_positive` (a token or service key of this server, working or not) or " +
    "`false_positive`; working ones are revoked. 404 when no keys are configured.",
  rateLimited: true,
  schema: {
    headers: Type.Object({
      "github-public-key-identifier": Type.Optional(Type.String({ maxLength: 200 })),
      "github-public-key-signature": Type.Optional(Type.String({ maxLength: 400 })),
    }),
    body: Type.Array(GitHubTokenMatch, { minItems: 1, maxItems: MAX_LEAK_REPORT_TOKENS }),
    response: { 200: Type.Array(GitHubTokenLabel) },
  },
  errors: ["invalid_signature", "not_found"],
});

export const WhoAmI = Type.Object({
  application: Type.Object({ id: Id("app"), name: Type.String() }),
  user: Type.Object({ id: Id("usr"), email: Type.String() }),
  token: Type.Object({ id: Id("tok"), name: Type.String(), scopes: Type.Array(Type.String()) }),
});
export type WhoAmI = Static<typeof WhoAmI>;

/** Every refusal of the protected API, each with a `WWW-Authenticate` challenge (RFC 6750). */
const BEARER_ERRORS = [
  "invalid_request",
  "invalid_token",
  "https_required",
  "rate_limited",
] as const;

export const whoAmIRoute = protectedApiRoute({
  method: "GET",
  url: "/api",
  operationId: "whoAmI",
  summary: "The protected API: the token's application, user and token",
  schema: { response: { 200: WhoAmI } },
  errors: BEARER_ERRORS,
});

export const Scope = Type.Object({ scope: Type.String() });

export const scopeCheckRoute = protectedApiRoute({
  method: "GET",
  url: "/api/scopes/:scope",
  operationId: "checkScope",
  summary: "A route that needs a scope: 200 when the token carries it",
  schema: {
    params: Type.Object({ scope: Type.String({ pattern: SCOPE_PATTERN.source }) }),
    response: { 200: Scope },
  },
  errors: [...BEARER_ERRORS, "insufficient_scope"],
});

export const verificationRoutes = [
  verifyRoute,
  reportLeaksRoute,
  reportGitHubLeaksRoute,
  whoAmIRoute,
  scopeCheckRoute,
] as const;
