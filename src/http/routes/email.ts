import {
  confirmEmailRoute,
  confirmPasswordResetRoute,
  requestPasswordResetRoute,
  resendEmailConfirmationRoute,
} from "../../contract/index.js";
import {
  confirmEmail,
  requestEmailConfirmation,
  requestPasswordReset,
  resetPasswordWithCode,
} from "../../services/email.js";
import { type ContractApp, routeOptions } from "../contract-route.js";
import {
  checkOrigin,
  clearSessionCookie,
  type ManagementContext,
  requireUser,
} from "../session.js";

/** Address confirmation and password reset; email itself goes out from the mail worker. */
export function emailRoutes(
  api: ContractApp,
  { deps, session: options, abuse }: ManagementContext,
): void {
  api.route({
    ...routeOptions(requestPasswordResetRoute),
    handler: async (request, reply) => {
      // Another site must not make a visitor's browser ask for reset emails.
      checkOrigin(request, options, false);
      if (await abuse.checkPasswordResetRequest(request)) {
        await requestPasswordReset(deps, request.body.email);
      }
      return reply.code(202).send(null);
    },
  });

  api.route({
    ...routeOptions(confirmPasswordResetRoute),
    handler: async (request, reply) => {
      checkOrigin(request, options, false);
      const reset = await resetPasswordWithCode(deps, request.body, { ip: request.ip });
      // Every session of the account has ended; if this browser held one, its cookie goes.
      if (request.user?.id === reset.userId) clearSessionCookie(request, reply);
      return reply.code(204).send(null);
    },
  });

  api.route({
    ...routeOptions(confirmEmailRoute),
    handler: async (request, reply) => {
      checkOrigin(request, options, false);
      await confirmEmail(deps, request.body.code, { ip: request.ip });
      return reply.code(204).send(null);
    },
  });

  api.route({
    ...routeOptions(resendEmailConfirmationRoute),
    handler: async (request, reply) => {
      const user = requireUser(request, options);
      await abuse.checkLinkEmail(request);
      await requestEmailConfirmation(deps, user);
      return reply.code(202).send(null);
    },
  });
}
