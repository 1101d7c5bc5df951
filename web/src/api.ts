// The one place the UI talks to the server. Every shape comes from the contract's schemas
// (type-only imports, erased at build time), so a contract change breaks this build.
import type {
  ApiToken,
  Application,
  AuditAction,
  AuditEvent,
  AuditPage,
  IssuedToken,
  Me,
  Member,
  Problem,
  Role,
  TokenList,
  TokenUsage,
  User,
} from "../../src/contract/index.js";

export type {
  ApiToken,
  Application,
  AuditAction,
  AuditEvent,
  AuditPage,
  IssuedToken,
  Me,
  Member,
  Role,
  TokenUsage,
  User,
};

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

type SignedOutListener = () => void;
let signedOutListener: SignedOutListener | undefined;

/** Called when the server says the session is gone, so the app can send the user to sign in. */
export function onSignedOut(listener: SignedOutListener | undefined): void {
  signedOutListener = listener;
}

function isProblem(value: unknown): value is Problem {
  return typeof value === "object" && value !== null && "code" in value && "detail" in value;
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
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
    if (response.status === 401 && problem?.code === "authentication_required") {
      signedOutListener?.();
    }
    throw new ApiError(
      response.status,
      problem?.code ?? "http_error",
      problem?.detail ?? `The server answered ${response.status}.`,
    );
  }
  return data as T;
}

const app = (appId: string) => `/api/v1/applications/${encodeURIComponent(appId)}`;
const token = (appId: string, tokenId: string) =>
  `${app(appId)}/tokens/${encodeURIComponent(tokenId)}`;

export const api = {
  signUp: (input: { email: string; password: string; name: string }) =>
    request<{ user: User }>("POST", "/api/v1/auth/signup", input),
  signIn: (input: { email: string; password: string }) =>
    request<{ user: User }>("POST", "/api/v1/auth/signin", input),
  signOut: () => request<void>("POST", "/api/v1/auth/signout"),
  me: () => request<Me>("GET", "/api/v1/me"),

  listApplications: () =>
    request<{ applications: Array<Pick<Application, "id" | "name" | "role">> }>(
      "GET",
      "/api/v1/applications",
    ),
  createApplication: (input: { name: string; scopes?: string[] }) =>
    request<Application>("POST", "/api/v1/applications", input),
  getApplication: (appId: string) => request<Application>("GET", app(appId)),

  listMembers: (appId: string) => request<{ members: Member[] }>("GET", `${app(appId)}/members`),
  addMember: (appId: string, input: { email: string; role: "admin" | "member" }) =>
    request<Member>("POST", `${app(appId)}/members`, input),
  removeMember: (appId: string, userId: string) =>
    request<void>("DELETE", `${app(appId)}/members/${encodeURIComponent(userId)}`),

  listTokens: (appId: string, all: boolean) =>
    request<TokenList>("GET", `${app(appId)}/tokens${all ? "?all=1" : ""}`),
  getToken: (appId: string, tokenId: string) => request<ApiToken>("GET", token(appId, tokenId)),
  createToken: (
    appId: string,
    input: { name: string; scopes?: string[]; expiresAt?: string | null },
  ) => request<IssuedToken>("POST", `${app(appId)}/tokens`, input),
  revokeToken: (appId: string, tokenId: string) => request<void>("DELETE", token(appId, tokenId)),
  regenerateToken: (appId: string, tokenId: string, graceSeconds: number) =>
    request<IssuedToken>("POST", `${token(appId, tokenId)}/regenerate`, { graceSeconds }),
  tokenUsage: (appId: string, tokenId: string, days: number) =>
    request<TokenUsage>("GET", `${token(appId, tokenId)}/usage?days=${days}`),

  applicationAudit: (
    appId: string,
    query: { tokenId?: string; action?: string; limit?: number; before?: string },
  ) => request<AuditPage>("GET", `${app(appId)}/audit${queryString(query)}`),
  accountAudit: (query: { limit?: number; before?: string }) =>
    request<AuditPage>("GET", `/api/v1/me/audit${queryString(query)}`),
};

/** `?a=1&b=x` from the defined entries; empty when there are none. */
function queryString(query: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** A message for any failure, for places that have no field to attach it to. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.detail;
  return "Something went wrong. Try again.";
}
