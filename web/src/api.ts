// The one place the UI talks to the server. Every shape comes from the contract's schemas
// (type-only imports, erased at build time), so a contract change breaks this build.
import type {
  AnswerOf,
  accountAuditRoute,
  addMemberRoute,
  applicationAuditRoute,
  applicationUsageRoute,
  BodyOf,
  changePasswordRoute,
  confirmPasswordResetRoute,
  confirmTwoFactorRoute,
  createApplicationRoute,
  createServiceKeyRoute,
  createTokenRoute,
  createWebhookRoute,
  getApplicationRoute,
  getTokenRoute,
  listApplicationsRoute,
  listInvitationsRoute,
  listMembersRoute,
  listMyInvitationsRoute,
  listServiceKeysRoute,
  listSessionsRoute,
  listTokensRoute,
  listWebhookDeliveriesRoute,
  listWebhooksRoute,
  meRoute,
  Problem,
  QueryOf,
  regenerateTokenRoute,
  signInRoute,
  signUpRoute,
  startTwoFactorRoute,
  tokenUsageRoute,
  twoFactorStatusRoute,
  updateApplicationRoute,
  updateTokenRoute,
} from "../../src/contract/index.js";

export type {
  ApiToken,
  Application,
  ApplicationSummary,
  AuditAction,
  AuditEvent,
  AuditPage,
  Branding,
  Invitation,
  IssuedServiceKey,
  IssuedToken,
  Me,
  Member,
  PortalView,
  ReceivedInvitation,
  Role,
  ServiceKey,
  Session,
  TokensUsage,
  TokenUsage,
  User,
  Webhook,
  WebhookDelivery,
} from "../../src/contract/index.js";

import { describeHttpFailure } from "./format";

/** A refused request: the problem's stable `code` is what the UI branches on. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {
    super(detail);
    this.name = "ApiError";
  }
}

/**
 * Decides what happens to a request the server refused because the session is gone: resolves
 * true once the user has signed in again (the request is then sent again, so nothing they
 * typed or asked for is lost), false when the request should fail instead.
 */
export type SessionEndedHandler = (method: string) => Promise<boolean>;
let sessionEndedHandler: SessionEndedHandler | undefined;

export function onSessionEnded(handler: SessionEndedHandler | undefined): void {
  sessionEndedHandler = handler;
}

/**
 * Decides what happens to a sensitive request the server refused for want of a recent
 * password: resolves true once the user has confirmed it (the request is then sent again,
 * exactly as it was), false when they declined.
 */
export type ReauthenticationHandler = () => Promise<boolean>;
let reauthenticationHandler: ReauthenticationHandler | undefined;

export function onReauthenticationRequired(handler: ReauthenticationHandler | undefined): void {
  reauthenticationHandler = handler;
}

function isProblem(value: unknown): value is Problem {
  return typeof value === "object" && value !== null && "code" in value && "detail" in value;
}

interface RequestOptions {
  /** The call works without a session (sign-in, sign-out): a 401 is its answer, not an ended session. */
  sessionOptional?: boolean;
}

async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  options: RequestOptions = {},
): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  let response: Response;
  try {
    // Same-origin only: the session cookie goes nowhere else, and the browser adds the
    // Origin header the server checks on every write.
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    // The request may have reached the server and only its answer been lost: callers whose
    // write is not safe to repeat blindly (creating a token) check what happened.
    throw new ApiError(0, "network_error", "Can't reach the server. Check your connection.");
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!response.ok) {
    const problem = isProblem(data) ? data : undefined;
    if (
      response.status === 401 &&
      problem?.code === "authentication_required" &&
      !options.sessionOptional &&
      sessionEndedHandler
    ) {
      // Refused before it did anything, so sending it again after the sign-in is safe.
      if (await sessionEndedHandler(method)) return request<T>(method, path, body, options);
    }
    if (
      response.status === 403 &&
      problem?.code === "reauthentication_required" &&
      reauthenticationHandler
    ) {
      // Refused before it did anything: after the password, the same request goes again.
      if (await reauthenticationHandler()) return request<T>(method, path, body, options);
    }
    throw new ApiError(
      response.status,
      problem?.code ?? "http_error",
      problem?.detail ?? describeHttpFailure(response.status),
    );
  }
  return data as T;
}

const app = (appId: string) => `/api/v1/applications/${encodeURIComponent(appId)}`;
const token = (appId: string, tokenId: string) =>
  `${app(appId)}/tokens/${encodeURIComponent(tokenId)}`;

// Each call's body and answer are the types of its contract route.
export const api = {
  signUp: (input: BodyOf<typeof signUpRoute>) =>
    request<AnswerOf<typeof signUpRoute, 201>>("POST", "/api/v1/auth/signup", input),
  signIn: (input: BodyOf<typeof signInRoute>) =>
    request<AnswerOf<typeof signInRoute, 200>>("POST", "/api/v1/auth/signin", input, {
      sessionOptional: true,
    }),
  signOut: () =>
    request<void>("POST", "/api/v1/auth/signout", undefined, { sessionOptional: true }),
  /** Who is signed in, if anyone: for checking a session without prompting a sign-in. */
  currentUser: () =>
    request<AnswerOf<typeof meRoute, 200>>("GET", "/api/v1/me", undefined, {
      sessionOptional: true,
    }),
  me: () => request<AnswerOf<typeof meRoute, 200>>("GET", "/api/v1/me"),
  requestPasswordReset: (email: string) =>
    request<void>("POST", "/api/v1/auth/password-reset", { email }, { sessionOptional: true }),
  confirmPasswordReset: (input: BodyOf<typeof confirmPasswordResetRoute>) =>
    request<void>("POST", "/api/v1/auth/password-reset/confirm", input, {
      sessionOptional: true,
    }),
  confirmEmail: (code: string) =>
    request<void>("POST", "/api/v1/auth/confirm-email", { code }, { sessionOptional: true }),
  resendEmailConfirmation: () => request<void>("POST", "/api/v1/me/email-confirmation"),

  listSessions: () =>
    request<AnswerOf<typeof listSessionsRoute, 200>>("GET", "/api/v1/me/sessions"),
  endSession: (sessionId: string) =>
    request<void>("DELETE", `/api/v1/me/sessions/${encodeURIComponent(sessionId)}`),
  endOtherSessions: () => request<void>("DELETE", "/api/v1/me/sessions"),
  changePassword: (input: BodyOf<typeof changePasswordRoute>) =>
    request<void>("POST", "/api/v1/auth/password", input),
  twoFactorStatus: () =>
    request<AnswerOf<typeof twoFactorStatusRoute, 200>>("GET", "/api/v1/me/two-factor"),
  /** A new secret to scan; two-factor stays off until a code from it is confirmed. */
  startTwoFactor: () =>
    request<AnswerOf<typeof startTwoFactorRoute, 201>>("POST", "/api/v1/me/two-factor"),
  confirmTwoFactor: (code: string) =>
    request<AnswerOf<typeof confirmTwoFactorRoute, 200>>("POST", "/api/v1/me/two-factor/confirm", {
      code,
    } satisfies BodyOf<typeof confirmTwoFactorRoute>),
  /** Needs a recent password (the reauthentication dialog asks for it, then this goes again). */
  disableTwoFactor: (code: string) => request<void>("DELETE", "/api/v1/me/two-factor", { code }),
  /** Confirms the password; a wrong one is its answer (401), not an ended session. */
  reauthenticate: (password: string) =>
    request<void>("POST", "/api/v1/auth/reauthenticate", { password }, { sessionOptional: true }),

  listApplications: () =>
    request<AnswerOf<typeof listApplicationsRoute, 200>>("GET", "/api/v1/applications"),
  createApplication: (input: BodyOf<typeof createApplicationRoute>) =>
    request<AnswerOf<typeof createApplicationRoute, 201>>("POST", "/api/v1/applications", input),
  getApplication: (appId: string) =>
    request<AnswerOf<typeof getApplicationRoute, 200>>("GET", app(appId)),
  /** Return origins and branding (owners and admins); absent fields keep their value. */
  updateApplication: (appId: string, input: BodyOf<typeof updateApplicationRoute>) =>
    request<AnswerOf<typeof updateApplicationRoute, 200>>("PATCH", app(appId), input),

  listServiceKeys: (appId: string) =>
    request<AnswerOf<typeof listServiceKeysRoute, 200>>("GET", `${app(appId)}/service-keys`),
  createServiceKey: (appId: string, input: BodyOf<typeof createServiceKeyRoute>) =>
    request<AnswerOf<typeof createServiceKeyRoute, 201>>(
      "POST",
      `${app(appId)}/service-keys`,
      input,
    ),
  revokeServiceKey: (appId: string, keyId: string) =>
    request<void>("DELETE", `${app(appId)}/service-keys/${encodeURIComponent(keyId)}`),

  listWebhooks: (appId: string) =>
    request<AnswerOf<typeof listWebhooksRoute, 200>>("GET", `${app(appId)}/webhooks`),
  createWebhook: (appId: string, input: BodyOf<typeof createWebhookRoute>) =>
    request<AnswerOf<typeof createWebhookRoute, 201>>("POST", `${app(appId)}/webhooks`, input),
  deleteWebhook: (appId: string, webhookId: string) =>
    request<void>("DELETE", `${app(appId)}/webhooks/${webhookId}`),
  listWebhookDeliveries: (appId: string, webhookId: string) =>
    request<AnswerOf<typeof listWebhookDeliveriesRoute, 200>>(
      "GET",
      `${app(appId)}/webhooks/${webhookId}/deliveries`,
    ),
  redeliverWebhook: (appId: string, webhookId: string, deliveryId: string) =>
    request<void>("POST", `${app(appId)}/webhooks/${webhookId}/deliveries/${deliveryId}/redeliver`),
  listMembers: (appId: string) =>
    request<AnswerOf<typeof listMembersRoute, 200>>("GET", `${app(appId)}/members`),
  addMember: (appId: string, input: BodyOf<typeof addMemberRoute>) =>
    request<AnswerOf<typeof addMemberRoute, 201>>("POST", `${app(appId)}/members`, input),
  listInvitations: (appId: string) =>
    request<AnswerOf<typeof listInvitationsRoute, 200>>("GET", `${app(appId)}/invitations`),
  withdrawInvitation: (appId: string, invitationId: string) =>
    request<void>("DELETE", `${app(appId)}/invitations/${encodeURIComponent(invitationId)}`),
  myInvitations: () =>
    request<AnswerOf<typeof listMyInvitationsRoute, 200>>("GET", "/api/v1/me/invitations"),
  acceptInvitation: (invitationId: string) =>
    request<ApplicationSummaryShape>(
      "POST",
      `/api/v1/me/invitations/${encodeURIComponent(invitationId)}/accept`,
    ),
  declineInvitation: (invitationId: string) =>
    request<void>("POST", `/api/v1/me/invitations/${encodeURIComponent(invitationId)}/decline`),
  removeMember: (appId: string, userId: string) =>
    request<void>("DELETE", `${app(appId)}/members/${encodeURIComponent(userId)}`),

  listTokens: (appId: string, all: boolean) =>
    request<AnswerOf<typeof listTokensRoute, 200>>(
      "GET",
      `${app(appId)}/tokens${all ? "?all=1" : ""}`,
    ),
  getToken: (appId: string, tokenId: string) =>
    request<AnswerOf<typeof getTokenRoute, 200>>("GET", token(appId, tokenId)),
  createToken: (appId: string, input: BodyOf<typeof createTokenRoute>) =>
    request<AnswerOf<typeof createTokenRoute, 201>>("POST", `${app(appId)}/tokens`, input),
  updateToken: (appId: string, tokenId: string, input: BodyOf<typeof updateTokenRoute>) =>
    request<AnswerOf<typeof updateTokenRoute, 200>>("PATCH", token(appId, tokenId), input),
  revokeToken: (appId: string, tokenId: string) => request<void>("DELETE", token(appId, tokenId)),
  regenerateToken: (appId: string, tokenId: string, graceSeconds: number) =>
    request<AnswerOf<typeof regenerateTokenRoute, 201>>(
      "POST",
      `${token(appId, tokenId)}/regenerate`,
      { graceSeconds } satisfies BodyOf<typeof regenerateTokenRoute>,
    ),
  tokenUsage: (appId: string, tokenId: string, days: number) =>
    request<AnswerOf<typeof tokenUsageRoute, 200>>(
      "GET",
      `${token(appId, tokenId)}/usage?days=${days}`,
    ),
  /** The usage of a page of tokens (up to 100 ids) in one request. */
  usageOfTokens: (appId: string, tokenIds: readonly string[], days: number) =>
    request<AnswerOf<typeof applicationUsageRoute, 200>>(
      "GET",
      `${app(appId)}/usage${queryString({ days, tokenIds: tokenIds.join(",") })}`,
    ),

  applicationAudit: (appId: string, query: Numbered<QueryOf<typeof applicationAuditRoute>>) =>
    request<AnswerOf<typeof applicationAuditRoute, 200>>(
      "GET",
      `${app(appId)}/audit${queryString(query)}`,
    ),
  accountAudit: (query: Numbered<QueryOf<typeof accountAuditRoute>>) =>
    request<AnswerOf<typeof accountAuditRoute, 200>>(
      "GET",
      `/api/v1/me/audit${queryString(query)}`,
    ),
};

type ApplicationSummaryShape = AnswerOf<typeof listApplicationsRoute, 200>["applications"][number];

/** A query whose `limit` the UI holds as a number (it is digits on the wire). */
type Numbered<Q> = Omit<Q, "limit"> & { limit?: number };

/** `?a=1&b=x` from the defined entries; empty when there are none. */
function queryString(query: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** A failure the page itself describes, in words written for the user. */
export class PageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PageError";
  }
}

/** A message for any failure, for places that have no field to attach it to. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.detail;
  if (error instanceof PageError) return error.message;
  return "Something went wrong. Try again.";
}
