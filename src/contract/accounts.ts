import { type Static, Type } from "typebox";
import { PASSWORD_MAX_LENGTH } from "../core/rules.js";
import { ApplicationSummary, Branding } from "./applications.js";
import { routeGroup } from "./route.js";
import { Id, NullableString } from "./schema.js";

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
  errors: ["email_taken", "csrf_rejected"],
});

export const signInRoute = accountRoute({
  method: "POST",
  url: "/api/v1/auth/signin",
  operationId: "signIn",
  summary: "Sign in with email and password",
  description: SESSION_COOKIE,
  auth: "none",
  rateLimited: true,
  schema: {
    body: Type.Object({ email: Email, password: Password }, { additionalProperties: false }),
    response: { 200: SignedIn },
  },
  errors: ["invalid_credentials", "csrf_rejected"],
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

export const accountRoutes = [signUpRoute, signInRoute, signOutRoute, meRoute] as const;
