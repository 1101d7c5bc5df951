import { KeywardError } from "../core/errors.js";
import type { Application, Role, User } from "../core/model.js";
import type { ServiceDeps } from "./deps.js";

/**
 * The actor's role in an application. Someone who is not a member gets `not_found`,
 * never `forbidden`: the answer must not confirm that the application exists.
 */
export async function requireMembership(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
): Promise<{ application: Application; role: Role }> {
  const role = await deps.store.applications.findRole(applicationId, actor.id);
  const application = role
    ? await deps.store.applications.findApplication(applicationId)
    : undefined;
  if (!role || !application) throw new KeywardError("not_found", "No such application.");
  return { application, role };
}

export function isManager(role: Role): boolean {
  return role === "owner" || role === "admin";
}

/** The actor's role, which must be owner or admin; `forbidden` with `refusal` otherwise. */
export async function requireManager(
  deps: ServiceDeps,
  actor: User,
  applicationId: string,
  refusal: string,
): Promise<{ application: Application; role: Role }> {
  const found = await requireMembership(deps, actor, applicationId);
  if (!isManager(found.role)) throw new KeywardError("forbidden", refusal);
  return found;
}
