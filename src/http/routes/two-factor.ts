import {
  confirmTwoFactorRoute,
  disableTwoFactorRoute,
  startTwoFactorRoute,
  twoFactorStatusRoute,
} from "../../contract/index.js";
import { KeywardError } from "../../core/errors.js";
import { requireRecentSignIn } from "../../services/accounts.js";
import { requireConfirmedEmail } from "../../services/email.js";
import {
  confirmTwoFactor,
  disableTwoFactor,
  getTwoFactorStatus,
  startTwoFactorEnrollment,
} from "../../services/two-factor.js";
import { type ContractApp, routeOptions } from "../contract-route.js";
import { type ManagementContext, requireAccountUser } from "../session.js";

/** `/api/v1/me/two-factor`: set up, confirm and turn off TOTP for the signed-in account. */
export function twoFactorRoutes(
  api: ContractApp,
  { deps, session: options, abuse }: ManagementContext,
): void {
  api.route({
    ...routeOptions(twoFactorStatusRoute),
    handler: async (request) => {
      const user = requireAccountUser(request, options);
      return getTwoFactorStatus(deps, user);
    },
  });

  api.route({
    ...routeOptions(startTwoFactorRoute),
    handler: async (request, reply) => {
      const user = requireAccountUser(request, options);
      // As sensitive as turning it off: with a session left open in a browser, someone else
      // could turn it on with their own app and keep the owner out.
      requireRecentSignIn(deps, request.session);
      // An address nobody has confirmed may not be the account holder's: whoever signed up
      // with it must not be able to lock out its owner, who can reset the password by email.
      await requireConfirmedEmail(deps, user);
      return reply.code(201).send(await startTwoFactorEnrollment(deps, user));
    },
  });

  api.route({
    ...routeOptions(confirmTwoFactorRoute),
    handler: async (request) => {
      const user = requireAccountUser(request, options);
      requireRecentSignIn(deps, request.session);
      const attempt = await abuse.startPasswordConfirmation(request);
      try {
        const recoveryCodes = await confirmTwoFactor(deps, user, request.body.code, {
          ip: request.ip,
        });
        return { recoveryCodes };
      } catch (error) {
        if (error instanceof KeywardError && error.code === "invalid_two_factor_code") {
          await attempt.failed();
        }
        throw error;
      } finally {
        attempt.end();
      }
    },
  });

  api.route({
    ...routeOptions(disableTwoFactorRoute),
    handler: async (request, reply) => {
      const user = requireAccountUser(request, options);
      // Before the code is looked at (or spent): a session left open in a browser is not
      // enough to remove the second factor.
      requireRecentSignIn(deps, request.session);
      const attempt = await abuse.startPasswordConfirmation(request);
      try {
        await disableTwoFactor(deps, user, request.body.code, { ip: request.ip });
      } catch (error) {
        if (error instanceof KeywardError && error.code === "invalid_two_factor_code") {
          await attempt.failed();
        }
        throw error;
      } finally {
        attempt.end();
      }
      return reply.code(204).send(null);
    },
  });
}
