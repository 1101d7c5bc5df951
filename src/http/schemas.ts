// JSON schemas shared by the routes. Every body schema sets additionalProperties: false
// and the validator is configured not to strip unknown fields, so an unknown field is
// refused (400) rather than silently ignored or, worse, applied.

export const idParam = (kind: "app" | "tok" | "usr") =>
  ({ type: "string", pattern: `^${kind}_[0-9A-Za-z]{20}$` }) as const;

export const userSchema = {
  type: "object",
  properties: { id: { type: "string" }, email: { type: "string" }, name: { type: "string" } },
  required: ["id", "email", "name"],
} as const;

export const roleSchema = { type: "string", enum: ["owner", "admin", "member"] } as const;

export const applicationSchema = {
  type: "object",
  properties: {
    id: { type: "string" },
    name: { type: "string" },
    role: roleSchema,
    scopes: { type: "array", items: { type: "string" } },
  },
  required: ["id", "name", "role"],
} as const;

const nullableDate = { type: ["string", "null"] } as const;

export const apiTokenSchema = {
  type: "object",
  properties: {
    id: { type: "string" },
    name: { type: "string" },
    hint: { type: "string" },
    scopes: { type: "array", items: { type: "string" } },
    createdAt: { type: "string" },
    expiresAt: nullableDate,
    lastUsedAt: nullableDate,
    revokedAt: nullableDate,
    status: { type: "string", enum: ["active", "expired", "revoked"] },
    revokedReason: { type: ["string", "null"] },
    refusedCount: { type: "integer" },
    lastRefusedAt: nullableDate,
    exposedAt: nullableDate,
    owner: {
      type: "object",
      properties: { id: { type: "string" }, email: { type: "string" } },
      required: ["id", "email"],
    },
  },
  required: [
    "id",
    "name",
    "hint",
    "scopes",
    "createdAt",
    "expiresAt",
    "lastUsedAt",
    "revokedAt",
    "status",
    "revokedReason",
    "refusedCount",
    "lastRefusedAt",
    "exposedAt",
  ],
} as const;

export const issuedTokenSchema = {
  type: "object",
  properties: { token: { type: "string" }, apiToken: apiTokenSchema },
  required: ["token", "apiToken"],
} as const;

export const memberSchema = {
  type: "object",
  properties: {
    userId: { type: "string" },
    email: { type: "string" },
    name: { type: "string" },
    role: roleSchema,
    joinedAt: { type: "string" },
  },
  required: ["userId", "email", "name", "role", "joinedAt"],
} as const;

export const scopesInput = {
  type: "array",
  maxItems: 50,
  items: { type: "string", minLength: 1, maxLength: 64 },
} as const;

export const emptyBody = { type: "object", additionalProperties: false, maxProperties: 0 } as const;
