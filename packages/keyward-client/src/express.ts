// keyward-client/express: `app.use(keyward({ client, scopes? }))` (or per route:
// `app.get("/v1/x", keyward({ client, scopes: ["read"] }), handler)`); the handler reads
// `req.keyward`.

import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { VerifiedToken } from "./client.js";
import {
  countAuthorization,
  type GuardResult,
  guard,
  type KeywardGuardOptions,
  PROBLEM_CONTENT_TYPE,
} from "./protect.js";

declare global {
  // Express's own augmentation point for the request type.
  namespace Express {
    interface Request {
      /** The verified token (set by keyward-client/express on the routes it protects). */
      keyward?: VerifiedToken;
    }
  }
}

export interface KeywardExpressOptions extends KeywardGuardOptions {
  /**
   * The address of the request's client, which a token's address allowlist is checked
   * against. Default: `req.ip`, which follows the app's `trust proxy` setting (behind a
   * reverse proxy, set that rather than this). An IPv4 or IPv6 address, or undefined:
   * then none is sent, and Keyward checks the address of the server that asks it.
   * Anything else is refused as an invalid token (401), without asking Keyward; if it
   * throws, the request gets 500 `internal_error`. Both are reported to `onError`.
   */
  clientAddress?: (req: Request) => string | undefined;
}

const connectionAddress = (req: Request) => req.ip ?? req.socket.remoteAddress;

/** The Express middleware. */
export function keyward(options: KeywardExpressOptions): RequestHandler {
  if (!options?.client) throw new TypeError("keyward-client/express: options.client is required.");
  const addressOf = options.clientAddress ?? connectionAddress;
  return (req: Request, res: Response, next: NextFunction) => {
    const finish = (result: GuardResult) => {
      if (result.ok) {
        req.keyward = result.token;
        next();
        return;
      }
      const { status, headers, body } = result.refusal;
      res.status(status).set(headers).type(PROBLEM_CONTENT_TYPE).send(body);
    };
    const result = guard(
      {
        authorization: req.headers.authorization,
        authorizationCount: countAuthorization(req.rawHeaders),
        url: req.originalUrl ?? req.url,
        clientAddress: () => addressOf(req),
      },
      options,
    );
    if (result instanceof Promise) result.then(finish, next);
    else finish(result);
  };
}
