import { Type } from "typebox";
import { routeGroup } from "./route.js";

// Email (optional, with SMTP_URL): address confirmation and password reset by emailed
// one-time links. A link carries its code in the URL fragment; the page posts it here.

const accountRoute = routeGroup({ tag: "accounts", auth: "none" });

const Code = Type.String({
  maxLength: 128,
  description: "The code from the emailed link (after `#code=`).",
});

export const requestPasswordResetRoute = accountRoute({
  method: "POST",
  url: "/api/v1/auth/password-reset",
  operationId: "requestPasswordReset",
  summary: "Email a password reset link",
  description:
    "Answers 202 whatever the email: whether an account has it is not said. When one does " +
    "(and this server sends email), a link to `/reset-password` is emailed that works once " +
    "within 30 minutes. At most 5 links per address per hour are sent; sign-ups and resets " +
    "count against the client address's limit (SIGNUP_PER_ADDRESS_PER_HOUR).",
  rateLimited: true,
  schema: {
    body: Type.Object({ email: Type.String({ maxLength: 254 }) }, { additionalProperties: false }),
    response: { 202: Type.Null() },
  },
  errors: ["csrf_rejected"],
});

export const confirmPasswordResetRoute = accountRoute({
  method: "POST",
  url: "/api/v1/auth/password-reset/confirm",
  operationId: "confirmPasswordReset",
  summary: "Set a new password with a reset link's code",
  description:
    "Sets the password and ends every session of the account (this browser signs in " +
    "afterwards). The code works once, within 30 minutes of the link's sending; every other " +
    "reset link of the account stops working too. Unknown, used or expired: 410 `link_expired`.",
  schema: {
    body: Type.Object(
      { code: Code, newPassword: Type.String({ maxLength: 1024 }) },
      { additionalProperties: false },
    ),
    response: { 204: Type.Null() },
  },
  errors: ["link_expired", "weak_password", "csrf_rejected"],
});

export const confirmEmailRoute = accountRoute({
  method: "POST",
  url: "/api/v1/auth/confirm-email",
  operationId: "confirmEmail",
  summary: "Confirm an account's email address with its link's code",
  description:
    "The link is emailed after sign-up and works once within 7 days; it may be opened in " +
    "any browser, signed in or not. Unknown, used or expired: 410 `link_expired`.",
  schema: {
    body: Type.Object({ code: Code }, { additionalProperties: false }),
    response: { 204: Type.Null() },
  },
  errors: ["link_expired", "csrf_rejected"],
});

export const resendEmailConfirmationRoute = accountRoute({
  method: "POST",
  url: "/api/v1/me/email-confirmation",
  operationId: "resendEmailConfirmation",
  summary: "Email a new confirmation link to the signed-in account",
  description:
    "202, and a new link is emailed when this server sends email and the address is not " +
    "confirmed yet (at most 5 per hour); otherwise nothing is sent. `GET /api/v1/me` says " +
    "whether a confirmation is pending (`emailConfirmationPending`).",
  auth: "session",
  rateLimited: true,
  schema: { response: { 202: Type.Null() } },
});

export const emailRoutes = [
  requestPasswordResetRoute,
  confirmPasswordResetRoute,
  confirmEmailRoute,
  resendEmailConfirmationRoute,
] as const;
