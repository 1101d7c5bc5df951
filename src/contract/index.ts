// The wire contract: every route and every JSON shape, declared once. The server registers
// its routes from these objects, the web UI imports their types, and GET /openapi.json is
// made from them.
import { accountRoutes } from "./accounts.js";
import { applicationRoutes } from "./applications.js";
import { auditRoutes } from "./audit.js";
import { emailRoutes } from "./email.js";
import { operationRoutes } from "./operations.js";
import type { RouteContract } from "./route.js";
import { serviceKeyRoutes, serviceRoutes } from "./service.js";
import { tokenRoutes } from "./tokens.js";
import { twoFactorRoutes } from "./two-factor.js";
import { verificationRoutes } from "./verification.js";
import { webhookRoutes } from "./webhooks.js";

export * from "./accounts.js";
export * from "./applications.js";
export * from "./audit.js";
export * from "./email.js";
export * from "./operations.js";
export * from "./route.js";
export * from "./schema.js";
export * from "./service.js";
export * from "./tokens.js";
export * from "./two-factor.js";
export * from "./verification.js";
export * from "./webhooks.js";

/** Every route of the contract, in the order the reference lists them. */
export const contractRoutes: readonly RouteContract[] = [
  ...accountRoutes,
  ...twoFactorRoutes,
  ...emailRoutes,
  ...applicationRoutes,
  ...tokenRoutes,
  ...serviceKeyRoutes,
  ...webhookRoutes,
  ...auditRoutes,
  ...verificationRoutes,
  ...serviceRoutes,
  ...operationRoutes,
];
