import { type Static, Type } from "typebox";
import { routeGroup } from "./route.js";

const twoFactorRoute = routeGroup({ tag: "accounts", auth: "session" });

/** A TOTP code (`123456`, spaces allowed) or a recovery code (`abcd-efgh-jkmn-pqrs`). */
export const SecondFactorCode = Type.String({
  maxLength: 64,
  description:
    "The 6-digit code the authenticator app shows now, or (where allowed) an unused recovery code.",
});

export const TwoFactorStatus = Type.Object({
  enabled: Type.Boolean({ description: "Two-factor authentication is on for this account." }),
  recoveryCodesLeft: Type.Integer({
    minimum: 0,
    description: "Recovery codes not used yet (0 while two-factor is off).",
  }),
});
export type TwoFactorStatus = Static<typeof TwoFactorStatus>;

export const TwoFactorEnrollment = Type.Object({
  secret: Type.String({
    description: "The shared secret, base32, for typing into the app by hand.",
  }),
  otpauthUrl: Type.String({
    description: "`otpauth://totp/…` with the secret, for a QR code the app scans.",
  }),
});
export type TwoFactorEnrollment = Static<typeof TwoFactorEnrollment>;

export const RecoveryCodes = Type.Object({
  recoveryCodes: Type.Array(Type.String(), {
    minItems: 10,
    maxItems: 10,
    description: "Ten single-use codes, shown this once; only their SHA-256 is kept.",
  }),
});
export type RecoveryCodes = Static<typeof RecoveryCodes>;

const CodeBody = Type.Object({ code: SecondFactorCode }, { additionalProperties: false });

const NOT_FOR_HOST_USERS =
  "A host user's portal session is refused (403 `forbidden`): host users have no password.";

export const twoFactorStatusRoute = twoFactorRoute({
  method: "GET",
  url: "/api/v1/me/two-factor",
  operationId: "getTwoFactor",
  summary: "Whether two-factor authentication is on, and how many recovery codes are left",
  schema: { response: { 200: TwoFactorStatus } },
  errors: ["forbidden"],
});

export const startTwoFactorRoute = twoFactorRoute({
  method: "POST",
  url: "/api/v1/me/two-factor",
  operationId: "startTwoFactor",
  summary: "Start setting up two-factor authentication (TOTP, RFC 6238)",
  description:
    "Answers a new secret, in force only once a code from it is confirmed " +
    "(`POST /api/v1/me/two-factor/confirm`). A setup not yet confirmed is replaced. " +
    `409 \`two_factor_already_enabled\` when two-factor is on. Needs a password entered in ` +
    "the last 15 minutes (403 `reauthentication_required`) and, when this server sends " +
    `email, a confirmed address (403 \`email_not_confirmed\`). ${NOT_FOR_HOST_USERS}`,
  schema: { response: { 201: TwoFactorEnrollment } },
  errors: [
    "two_factor_already_enabled",
    "forbidden",
    "reauthentication_required",
    "email_not_confirmed",
  ],
});

export const confirmTwoFactorRoute = twoFactorRoute({
  method: "POST",
  url: "/api/v1/me/two-factor/confirm",
  operationId: "confirmTwoFactor",
  summary: "Turn two-factor authentication on with a code from the app",
  description:
    "Answers ten recovery codes, this once. From now on, sign-in needs a code after the " +
    "password. Needs a password entered in the last 15 minutes (403 " +
    `\`reauthentication_required\`). ${NOT_FOR_HOST_USERS}`,
  rateLimited: true,
  schema: { body: CodeBody, response: { 200: RecoveryCodes } },
  errors: [
    "invalid_two_factor_code",
    "two_factor_already_enabled",
    "not_found",
    "forbidden",
    "reauthentication_required",
  ],
});

export const disableTwoFactorRoute = twoFactorRoute({
  method: "DELETE",
  url: "/api/v1/me/two-factor",
  operationId: "disableTwoFactor",
  summary: "Turn two-factor authentication off",
  description:
    "Needs a current code or an unused recovery code, and the password entered in this " +
    "session in the last 15 minutes (else 403 `reauthentication_required`). The secret " +
    `and the recovery codes are deleted. ${NOT_FOR_HOST_USERS}`,
  rateLimited: true,
  schema: { body: CodeBody, response: { 204: Type.Null() } },
  errors: ["invalid_two_factor_code", "reauthentication_required", "not_found", "forbidden"],
});

export const twoFactorRoutes = [
  twoFactorStatusRoute,
  startTwoFactorRoute,
  confirmTwoFactorRoute,
  disableTwoFactorRoute,
] as const;
