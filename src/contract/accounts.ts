import { type Static, Type } from "typebox";
import { PASSWORD_MAX_LENGTH } from "../core/rules.js";
import { ApplicationSummary, Branding } from "./applications.js";
import { routeGroup } from "./route.js";
import { Id, NullableString, Timestamp } from "./schema.js";

const accountRoute = routeGroup({ tag: "accounts", auth: "session" });

export const User = Type.Object({
  id: Id("usr"),
  email: Type.String(),
  name: Type.String(),
});
export type User = Static<typeof User>;

export const SignedIn = Type.Object({ user: User });
export type SignedIn = Static<typeof SignedIn>;

/** Present when the session came through a host's portal link. */
export const PortalView = Type.Object(
  {
    applicationId: Id("app"),
    returnUrl: NullableString({ description: 'Where the "Back to …" link goes.' }),
    branding: Type.Union([Branding, Type.Null()]),
  },
  {
    description:
      "The session is a host user's, through a portal link: it reaches this one application.",
  },
);
export type PortalView = Static<typeof PortalView>;

export const Me = Type.Object({
  user: User,
  emailConfirmationPending: Type.Optional(
    Type.Boolean({
      description:
        "This server sends email and the account has not confirmed its address yet: it " +
        "cannot accept invitations until it does (POST /api/v1/me/email-confirmation sends a new link).",
    }),
  ),
  applications: Type.Array(ApplicationSummary),
  portal: Type.Optional(PortalView),
});
export type Me = Static<typeof Me>;

// Lengths here only bound the work a request can cause; the services apply the rules
// (email syntax, password strength) and say what is wrong in their own words.
const Email = Type.String({ maxLength: 254 });
const Password = Type.String({ maxLength: 1024 });
const DisplayName = Type.String({ maxLength: 400 });

const SESSION_COOKIE =
  "Sets the `keyward_session` cookie (HttpOnly, SameSite=Lax, Secure over HTTPS). " +
  `Passwords are ${PASSWORD_MAX_LENGTH} characters at most.`;

export const signUpRoute = accountRoute({
  method: "POST",
  url: "/api/v1/auth/signup",
  operationId: "signUp",
  summary: "Create an account and sign in",
  description: SESSION_COOKIE,
  auth: "none",
  schema: {
    body: Type.Object(
      { email: Email, password: Password, name: DisplayName },
      { additionalProperties: false },
    ),
    response: { 201: SignedIn },
  },
  rateLimited: true,
  errors: ["email_taken", "csrf_rejected", "weak_password"],
});

export const signInRoute = accountRoute({
  method: "POST",
  url: "/api/v1/auth/signin",
  operationId: "signIn",
  summary: "Sign in with email and password",
  description:
    `${SESSION_COOKIE} With two-factor authentication on, the right password without a ` +
    "`code` answers 401 `two_factor_required`: send the same body again with `code`.",
  auth: "none",
  rateLimited: true,
  schema: {
    body: Type.Object(
      {
        email: Email,
        password: Password,
        code: Type.Optional(
          Type.String({
            maxLength: 64,
            description:
              "With two-factor authentication on: the app's current code or an unused recovery code.",
          }),
        ),
      },
      { additionalProperties: false },
    ),
    response: { 200: SignedIn },
  },
  errors: [
    "invalid_credentials",
    "two_factor_required",
    "invalid_two_factor_code",
    "csrf_rejected",
  ],
});

export const signOutRoute = accountRoute({
  method: "POST",
  url: "/api/v1/auth/signout",
  operationId: "signOut",
  summary: "End this session",
  schema: { response: { 204: Type.Null() } },
});

export const meRoute = accountRoute({
  method: "GET",
  url: "/api/v1/me",
  operationId: "getMe",
  summary: "The signed-in user and their applications",
  schema: { response: { 200: Me } },
});

export const Session = Type.Object({
  id: Id("ses"),
  createdAt: Timestamp,
  lastSeenAt: Timestamp,
  userAgent: NullableString({ description: "The browser's User-Agent at sign-in." }),
  address: NullableString({ description: "The client address at sign-in." }),
  current: Type.Boolean({ description: "This is the session making the request." }),
});
export type Session = Static<typeof Session>;

export const SessionList = Type.Object({ sessions: Type.Array(Session) });
export type SessionList = Static<typeof SessionList>;

const IDLE =
  "A session ends after SESSION_IDLE_HOURS (default 24) without use, and after " +
  "SESSION_TTL_HOURS (default 168) in any case; `lastSeenAt` is written at most once a minute.";

const ACCOUNT_ONLY =
  " A host user's portal session gets 403 `forbidden`: that account is the host's to manage.";

export const listSessionsRoute = accountRoute({
  method: "GET",
  url: "/api/v1/me/sessions",
  operationId: "listSessions",
  summary: "The signed-in user's sessions, most recently used first",
  description: IDLE + ACCOUNT_ONLY,
  schema: { response: { 200: SessionList } },
  errors: ["forbidden"],
});

export const endSessionRoute = accountRoute({
  method: "DELETE",
  url: "/api/v1/me/sessions/:sessionId",
  operationId: "endSession",
  summary: "End one of your sessions (signs that browser out)",
  description: ACCOUNT_ONLY.trim(),
  schema: {
    params: Type.Object({ sessionId: Id("ses") }),
    response: { 204: Type.Null() },
  },
  errors: ["not_found", "forbidden"],
});

export const endOtherSessionsRoute = accountRoute({
  method: "DELETE",
  url: "/api/v1/me/sessions",
  operationId: "endOtherSessions",
  summary: "End every session but this one",
  description: ACCOUNT_ONLY.trim(),
  schema: { response: { 204: Type.Null() } },
  errors: ["forbidden"],
});

export const changePasswordRoute = accountRoute({
  method: "POST",
  url: "/api/v1/auth/password",
  operationId: "changePassword",
  summary: "Change your password; every other session ends",
  description:
    "A password that is blank or among the most common passwords is refused " +
    "(400 `weak_password`). This session stays signed in and counts as a recent sign-in." +
    ACCOUNT_ONLY,
  rateLimited: true,
  schema: {
    body: Type.Object(
      { currentPassword: Password, newPassword: Password },
      { additionalProperties: false },
    ),
    response: { 204: Type.Null() },
  },
  errors: ["invalid_credentials", "weak_password", "validation_failed", "forbidden"],
});

export const reauthenticateRoute = accountRoute({
  method: "POST",
  url: "/api/v1/auth/reauthenticate",
  operationId: "reauthenticate",
  summary: "Confirm your password for sensitive actions (15 minutes)",
  description:
    "Creating a service key, inviting an admin, changing return origins or branding need " +
    "the password entered in this session in the last 15 minutes (sign-in counts); else " +
    "403 `reauthentication_required`." +
    ACCOUNT_ONLY,
  rateLimited: true,
  schema: {
    body: Type.Object({ password: Password }, { additionalProperties: false }),
    response: { 204: Type.Null() },
  },
  errors: ["invalid_credentials", "forbidden"],
});

export const accountSecurityRoutes = [
  listSessionsRoute,
  endSessionRoute,
  endOtherSessionsRoute,
  changePasswordRoute,
  reauthenticateRoute,
] as const;

export const accountRoutes = [
  signUpRoute,
  signInRoute,
  signOutRoute,
  meRoute,
  ...accountSecurityRoutes,
] as const;
