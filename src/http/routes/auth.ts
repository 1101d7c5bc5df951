import type { FastifyRequest } from "fastify";
import {
  changePasswordRoute,
  endOtherSessionsRoute,
  endSessionRoute,
  listSessionsRoute,
  meRoute,
  reauthenticateRoute,
  signInRoute,
  signOutRoute,
  signUpRoute,
} from "../../contract/index.js";
import { KeywardError } from "../../core/errors.js";
import {
  changePassword,
  endOtherSessions,
  endSession,
  isKnownSigninAddress,
  listSessions,
  reauthenticate,
  signIn,
  signOut,
  signUp,
} from "../../services/accounts.js";
import { getApplication, listApplications } from "../../services/applications.js";
import type { RequestContext } from "../../services/audit.js";
import { emailConfirmationPending, requestEmailConfirmation } from "../../services/email.js";
import { limitAddress } from "../client-address.js";
import { type ContractApp, routeOptions } from "../contract-route.js";
import {
  checkOrigin,
  clearSessionCookie,
  type ManagementContext,
  requireAccountUser,
  requireUser,
  setSessionCookie,
} from "../session.js";
import { toWireSession, toWireUser } from "../wire.js";

/** Who is asking: the address (after TRUST_PROXY) and the browser, kept with a new session. */
function clientOf(request: FastifyRequest): RequestContext {
  const userAgent = request.headers["user-agent"];
  return { ip: request.ip, userAgent: typeof userAgent === "string" ? userAgent : null };
}

export function authRoutes(
  api: ContractApp,
  { deps, session: options, abuse }: ManagementContext,
): void {
  api.route({
    ...routeOptions(signUpRoute),
    handler: async (request, reply) => {
      // Sign-up and sign-in carry no session yet, but a foreign Origin means another
      // site is trying to sign the browser into an account of its choosing.
      checkOrigin(request, options, false);
      await abuse.checkSignup(request);
      const { user, session } = await signUp(deps, request.body, clientOf(request));
      setSessionCookie(request, reply, session.secret, session.expiresAt);
      // The account exists either way: a confirmation that failed to queue is asked for again
      // from the UI (POST /api/v1/me/email-confirmation).
      try {
        // Counted with the resends: the address gets at most the limit's emails an hour.
        if (await abuse.countLinkEmail(request)) await requestEmailConfirmation(deps, user);
        else request.log.info("email confirmation not sent: the address's email limit is reached");
      } catch (error) {
        request.log.warn({ err: error }, "queueing the email confirmation failed");
      }
      return reply.code(201).send({ user: toWireUser(user) });
    },
  });

  api.route({
    ...routeOptions(signInRoute),
    handler: async (request, reply) => {
      checkOrigin(request, options, false);
      const attempt = await abuse.startSignin(request, () =>
        isKnownSigninAddress(deps, request.body.email, request.ip, limitAddress),
      );
      let signedIn: Awaited<ReturnType<typeof signIn>>;
      try {
        signedIn = await signIn(deps, request.body, clientOf(request));
      } catch (error) {
        // A wrong second-factor code counts like a wrong password: both are guesses.
        if (
          error instanceof KeywardError &&
          (error.code === "invalid_credentials" || error.code === "invalid_two_factor_code")
        ) {
          await attempt.failed();
        }
        throw error;
      } finally {
        attempt.end();
      }
      const { user, session } = signedIn;
      setSessionCookie(request, reply, session.secret, session.expiresAt);
      return { user: toWireUser(user) };
    },
  });

  api.route({
    ...routeOptions(signOutRoute),
    handler: async (request, reply) => {
      requireUser(request, options);
      if (request.sessionIdHash) await signOut(deps, request.sessionIdHash);
      clearSessionCookie(request, reply);
      return reply.code(204).send(null);
    },
  });

  api.route({
    ...routeOptions(meRoute),
    handler: async (request, reply) => {
      const user = requireUser(request, options);
      const applications = await listApplications(deps, user);
      reply.header("cache-control", "no-store");
      if (request.portal === null) {
        const pending = await emailConfirmationPending(deps, user);
        return {
          user: toWireUser(user),
          ...(pending ? { emailConfirmationPending: true } : {}),
          applications,
        };
      }
      const application = await getApplication(deps, user, request.portal.applicationId);
      return {
        user: toWireUser(user),
        applications,
        portal: {
          applicationId: application.id,
          returnUrl: request.portal.returnUrl,
          branding: application.branding,
        },
      };
    },
  });

  api.route({
    ...routeOptions(listSessionsRoute),
    handler: async (request, reply) => {
      const user = requireAccountUser(request, options);
      const sessions = await listSessions(deps, user);
      reply.header("cache-control", "no-store");
      return {
        sessions: sessions.map((s) => toWireSession(s, s.idHash === request.sessionIdHash)),
      };
    },
  });

  api.route({
    ...routeOptions(endSessionRoute),
    handler: async (request, reply) => {
      const user = requireAccountUser(request, options);
      await endSession(deps, user, request.params.sessionId, clientOf(request));
      if (request.session?.id === request.params.sessionId) clearSessionCookie(request, reply);
      return reply.code(204).send(null);
    },
  });

  api.route({
    ...routeOptions(endOtherSessionsRoute),
    handler: async (request, reply) => {
      const user = requireAccountUser(request, options);
      await endOtherSessions(deps, user, request.sessionIdHash, clientOf(request));
      return reply.code(204).send(null);
    },
  });

  api.route({
    ...routeOptions(changePasswordRoute),
    handler: async (request, reply) => {
      const user = requireAccountUser(request, options);
      const attempt = await abuse.startPasswordConfirmation(request);
      try {
        await changePassword(deps, user, request.sessionIdHash, request.body, clientOf(request));
      } catch (error) {
        if (error instanceof KeywardError && error.code === "invalid_credentials") {
          await attempt.failed();
        }
        throw error;
      } finally {
        attempt.end();
      }
      return reply.code(204).send(null);
    },
  });

  api.route({
    ...routeOptions(reauthenticateRoute),
    handler: async (request, reply) => {
      const user = requireAccountUser(request, options);
      if (request.sessionIdHash === null) throw new KeywardError("authentication_required");
      const attempt = await abuse.startPasswordConfirmation(request);
      try {
        await reauthenticate(
          deps,
          user,
          request.sessionIdHash,
          request.body.password,
          clientOf(request),
        );
      } catch (error) {
        if (error instanceof KeywardError && error.code === "invalid_credentials") {
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
